# Compile flags shared by every heapfs target (STYLE.md section 9).
add_library(heapfs_flags INTERFACE)
target_compile_definitions(heapfs_flags INTERFACE _GNU_SOURCE _FILE_OFFSET_BITS=64)
target_compile_options(heapfs_flags INTERFACE
	-Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes
	-Wformat=2 -Wvla -Wundef -Wcast-qual -Wpointer-arith)
if(HEAPFS_WERROR)
	target_compile_options(heapfs_flags INTERFACE -Werror)
endif()
if(HEAPFS_SANITIZE)
	target_compile_options(heapfs_flags INTERFACE
		-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
	target_link_options(heapfs_flags INTERFACE -fsanitize=address,undefined)
endif()
if(HEAPFS_FUZZ)
	# Coverage for libFuzzer everywhere; the harness links its main.
	target_compile_options(heapfs_flags INTERFACE
		-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer
		-fno-sanitize-recover=undefined)
	target_link_options(heapfs_flags INTERFACE -fsanitize=address,undefined)
endif()
if(HEAPFS_TSAN)
	target_compile_options(heapfs_flags INTERFACE -fsanitize=thread -fno-omit-frame-pointer)
	target_link_options(heapfs_flags INTERFACE -fsanitize=thread)
endif()
