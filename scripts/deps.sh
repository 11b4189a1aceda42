#!/usr/bin/env bash
# Installs the Debian packages heapfs builds and tests with, only those that
# are missing, so a second run costs one dpkg query. Root or sudo.
set -euo pipefail

pkgs=(build-essential cmake pkg-config check
      librocksdb-dev libzstd-dev libssl-dev libjansson-dev
      libfuse3-dev fuse3 zstd
      attr   # setfattr: test_events sets an attribute as an operator would
      openssh-server openssh-client iproute2   # test_sshd: a real sshd, netns
      clang)   # the libFuzzer harness (make fuzz)

missing=()
for p in "${pkgs[@]}"; do
	# No pipe into grep -q: it exits at the first match, and under pipefail
	# a writer killed by SIGPIPE would count the package as missing.
	status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) || status=
	case $status in *' ok installed') ;; *) missing+=("$p") ;; esac
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null ||
		{ echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
echo "deps: installing ${missing[*]}"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
