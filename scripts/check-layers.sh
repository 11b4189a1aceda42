#!/bin/sh
# check-layers.sh LISTFILE LIBRARY - fail on a call back up between layers.
#
# LISTFILE is heapstore/CMakeLists.txt: the lines of its add_library() list
# are the layers, bottom first, the files of a line one layer.  LIBRARY is
# the built libheapstore.a.  From `nm` of its members: every symbol a member
# uses (U) that another member defines must be defined by a member of a
# lower layer.  A call to a sibling of the same layer, or to one above, is
# named and the build fails.
set -eu
list=$1
lib=$2

layers=$(awk '
	/^add_library\(heapstore / { on = 1; next }
	on {
		line = $0
		sub(/\).*/, "", line)
		n = split(line, f, /[ \t]+/)
		for (i = 1; i <= n; i++)
			if (f[i] ~ /\.c$/)
				print f[i], rank
		rank++
		if ($0 ~ /\)/)
			exit
	}' rank=0 "$list")
[ -n "$layers" ] || { echo "check-layers: no layer list in $list" >&2; exit 1; }

nm -A "$lib" 2>/dev/null | awk -v layers="$layers" '
	BEGIN {
		n = split(layers, l, "\n")
		for (i = 1; i <= n; i++) {
			split(l[i], p, " ")
			rank[p[1] ".o"] = p[2]
		}
	}
	# "lib.a:file.c.o:0000 T name" or "lib.a:file.c.o:         U name"
	{
		member = $1
		sub(/^[^:]*:/, "", member)
		sub(/:.*/, "", member)
		type = $(NF - 1)
		sym = $NF
		if (type == "U")
			uses[member, sym] = 1
		else if (type ~ /^[A-Z]$/)
			def[sym] = member
		members[member] = 1
	}
	END {
		bad = 0
		for (m in members)
			if (!(m in rank)) {
				printf "check-layers: %s is in no layer of the list\n", m
				bad = 1
			}
		for (k in uses) {
			split(k, kk, SUBSEP)
			m = kk[1]; s = kk[2]
			if (!(s in def) || def[s] == m)
				continue
			if (rank[def[s]] >= rank[m]) {
				printf "check-layers: %s (layer %d) calls %s of %s (layer %d): " \
				       "a file calls only the layers below it\n",
				       m, rank[m], s, def[s], rank[def[s]]
				bad = 1
			}
		}
		exit bad
	}'
