# shellcheck shell=bash
# bench/need.sh - sourced by the benchmarks: installs the Debian packages
# that only a benchmark needs (so make test does not pull them), as root or
# through sudo.
#
#   bench_install WHO PACKAGE...
#
# Does nothing without packages; prints "WHO: installing ..." first.  Tries
# without refreshing the package lists first (a second run costs nothing
# more), then after apt-get update.  Returns 1 with the reason on stderr when
# it cannot: the caller says whether it can go on without them.
bench_install() {
	local who=$1 sudo=""
	shift
	[ $# -gt 0 ] || return 0
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null ||
			{ echo "$who: need root or sudo to install: $*" >&2; return 1; }
		sudo=sudo
	fi
	echo "$who: installing $*"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "$@" >/dev/null 2>&1 && return 0
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
		$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "$@" >/dev/null && return 0
	echo "$who: could not install $*" >&2
	return 1
}
