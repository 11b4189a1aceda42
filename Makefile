# Thin front end over CMake: the README's two commands.
BUILD ?= build
CMAKE_FLAGS ?=
GC_ARGS ?=
MIGRATE_ARGS ?=
JOBS ?= 2

.PHONY: all deps build test fuzz demo bench bench-mount bench-cache bench-gc bench-migrate bench-pool clean

all: build

deps:
	@scripts/deps.sh

# The Makefile, not CMakeCache.txt: a configure that failed (a package
# missing) leaves the cache behind, and the next make must configure again.
$(BUILD)/Makefile:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS)

# CMAKE_FLAGS reach a build directory configured before, too: otherwise
# BUILD=build-asan CMAKE_FLAGS=-DHEAPFS_SANITIZE=ON on an existing plain
# build-asan would test without sanitizers and say nothing.
build: deps $(BUILD)/Makefile
	$(if $(CMAKE_FLAGS),cmake -S . -B $(BUILD) $(CMAKE_FLAGS) >/dev/null)
	cmake --build $(BUILD) -j $(JOBS)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The libFuzzer harness, built with clang in its own tree, and its bounded
# run (tests/fuzz; FUZZ_RUNS executions after seeds from real streams).
FUZZ_BUILD ?= build-fuzz
FUZZ_RUNS ?= 200000
fuzz: deps
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DHEAPFS_FUZZ=ON \
		-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHEAPFS_FUZZ_RUNS=$(FUZZ_RUNS) >/dev/null
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_stream fuzz_seeds
	cd $(FUZZ_BUILD) && ctest --output-on-failure -L fuzz

demo: build
	@scripts/demo.sh $(BUILD)

bench: build
	@bench/run.sh $(BUILD)

bench-mount: build
	@bench/mount.sh $(BUILD)

bench-cache: build
	@bench/cache.sh $(BUILD)

# make bench-gc GC_ARGS=--quick for the smoke test
bench-gc: build
	@bench/gc.sh $(BUILD) $(GC_ARGS)

# make bench-migrate MIGRATE_ARGS=--quick for the smoke test
bench-migrate: build
	@bench/migrate.sh $(BUILD) $(MIGRATE_ARGS)

# make bench-pool POOL_ARGS="--runs 3" for several runs
bench-pool: build
	@bench/pool.sh $(BUILD) $(POOL_ARGS)

clean:
	rm -rf $(BUILD)
