#!/usr/bin/env bash
# Installs what running the lab needs on a fresh Debian-like machine (idempotent), nothing more:
# debootstrap for the base rootfs, systemd-nspawn for the hosts, ssh to reach them, python3 for
# the mirror and the program, and the program's own venv (.venv, requirements.txt only: no test
# packages). Installs only missing packages; upgrades nothing the machine already has.
# The toolchain's own needs (Go) are toolchain/build.sh's business (toolchain/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
	debootstrap       # the hosts' Debian base rootfs
	systemd-container # systemd-nspawn
	openssh-client    # ssh, ssh-keygen (host keys are made on this machine)
	iproute2          # bridge, veth, network namespaces
	util-linux        # flock, nsenter, setsid, mountpoint
	procps            # pgrep
	curl              # checks the mirror answers
	python3           # the mirror's HTTP server and the Pulumi program
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
	echo "lab: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The venv Pulumi.yaml names; a python3 other than Debian's (PYTHON=) is fine too.
PYTHON=${PYTHON:-python3}
[[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
stamp=.venv/.run-requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
	echo "lab: installing the program's Python packages into .venv (requirements.txt)" >&2
	.venv/bin/pip install -q -r requirements.txt
	echo "$want" >"$stamp"
fi
