#!/usr/bin/env bash
# Installs what the lab needs on a fresh Debian-like machine (idempotent): debootstrap for the
# base rootfs, systemd-nspawn for the hosts, ssh to reach them, python3 for the mirror.
# The toolchain's own needs (Go) are toolchain/build.sh's business (toolchain/README.md).
set -euo pipefail

APT_PACKAGES=(
	debootstrap      # the hosts' Debian base rootfs
	systemd-container # systemd-nspawn
	openssh-client   # ssh, ssh-keygen (host keys are made on this machine)
	iproute2         # bridge, veth, network namespaces
	util-linux       # flock, nsenter, setsid, mountpoint
	procps           # pgrep
	curl             # checks the mirror answers
	python3          # the mirror's HTTP server
)

[[ $(id -u) -eq 0 ]] || {
	echo "the lab needs root (network namespaces, mounts, systemd-nspawn): run make as root" >&2
	exit 1
}
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
	dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
