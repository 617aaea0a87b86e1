#!/usr/bin/env bash
# Installs what the test tiers need on a fresh Debian-like machine: the Python venv and the real
# tools the tests run on rendered output. Idempotent; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  shellcheck      # every rendered script
  systemd         # systemd-analyze verify on every rendered unit
  openssl         # certificate checks and mTLS handshakes
  etcd-server     # a real 3-member etcd cluster from rendered flags
  etcd-client     # etcdctl
  containerd      # the rendered containerd config, started for real
  runc
  openssh-server  # a real sshd for the drift guard and SSH step tests
  curl            # the artifact install scripts' downloads
  skopeo          # containers/image judges pulls by the rendered CRI-O image policy
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian starts services it installs; tests start their own instances.
  $SUDO systemctl disable --now etcd containerd ssh >/dev/null 2>&1 || true
fi

PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [[ ! -f $stamp || $(cat "$stamp") != "$want" ]]; then
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  echo "$want" > "$stamp"
fi
