#% params: ROOT NODE MARKER WANT WANT_UNIT WANT_SOCKET OTHER OTHER_UNIT OTHER_SOCKET BINARIES KATA KATA_CONFIG
# Refuses to install $WANT where another container runtime owns its unit, socket or binaries
# (S1's trap: Docker's bundled containerd beside a second containerd). Changes nothing on the
# host and lists every reason at once. $ROOT prefixes host paths (empty on a real host).
set -eu
failed=0
refuse() {
  echo "error: $NODE: $*" >&2
  failed=1
}
warn() {
  echo "warning: $NODE: $*" >&2
}

UNIT_DIRS="/etc/systemd/system /run/systemd/system /usr/local/lib/systemd/system /lib/systemd/system /usr/lib/systemd/system"

# Every file systemd could load for a unit name (merged /usr lists /lib and /usr/lib once).
unit_files() {
  for dir in $UNIT_DIRS; do
    if [ -e "$ROOT$dir/$1" ]; then
      readlink -f "$ROOT$dir/$1"
    fi
  done | sort -u
}

is_ours() {
  grep -qsF "$MARKER" "$1"
}

package_of() {
  path=${1#"$ROOT"}
  if command -v dpkg >/dev/null 2>&1 && dpkg -S "$path" >/dev/null 2>&1; then
    echo "package $(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)"
  elif command -v rpm >/dev/null 2>&1 && rpm -qf "$path" >/dev/null 2>&1; then
    echo "package $(rpm -qf "$path" | head -n 1)"
  else
    echo "no package"
  fi
}

# 1. Docker runs its own containerd on /run/containerd: never a second runtime beside it.
for unit in docker.service docker.socket; do
  for f in $(unit_files "$unit"); do
    refuse "Docker is installed ($f, $(package_of "$f")); its bundled containerd would fight" \
      "$WANT over units, sockets, cgroups and images. Remove Docker (and containerd.io) first."
  done
done
if [ -S "$ROOT/run/docker.sock" ]; then
  refuse "a Docker daemon listens on /run/docker.sock: remove Docker first"
fi

# 2. The unit and socket of the runtime we install must be ours or absent.
ours=no
for f in $(unit_files "$WANT_UNIT"); do
  if is_ours "$f"; then
    ours=yes
  else
    refuse "$WANT_UNIT is already provided by $f ($(package_of "$f")); ours would shadow it and" \
      "both would claim $WANT_SOCKET. Remove that $WANT first (distribution or Docker package)."
  fi
done
if [ -S "$ROOT$WANT_SOCKET" ] && [ "$ours" = no ]; then
  refuse "$WANT_SOCKET exists, but no $WANT of ours is installed: another $WANT owns it." \
    "Stop and remove it first."
fi

# 3. The other runtime must not run here, whoever installed it.
for f in $(unit_files "$OTHER_UNIT"); do
  if systemctl is-active --quiet "$OTHER_UNIT" 2>/dev/null \
    || systemctl is-enabled --quiet "$OTHER_UNIT" 2>/dev/null; then
    if is_ours "$f"; then
      how="it is ours from an earlier runtime.name: remove this node from the stack, then add it back"
    else
      how="stop, disable and remove it ($(package_of "$f"))"
    fi
    refuse "$OTHER ($f) is enabled or running: two runtimes on one kubelet node fight over" \
      "cgroups, CNI and images; $how"
  fi
done
if [ -S "$ROOT$OTHER_SOCKET" ]; then
  refuse "$OTHER_SOCKET exists: $OTHER runs here beside the $WANT we would install; remove it first"
fi

# 4. Every binary our config and unit name, installed by the host step.
for b in $BINARIES; do
  if [ ! -x "$ROOT$b" ]; then
    refuse "$b is missing or not executable; the host step installs it"
  fi
done
for dir in /usr/bin /usr/sbin /bin /sbin; do
  if [ -x "$ROOT$dir/$WANT" ] && [ ! -L "$ROOT$dir" ]; then
    warn "another $WANT binary is on PATH at $dir/$WANT ($(package_of "$ROOT$dir/$WANT"));" \
      "our unit runs its own by absolute path, but operators may run the wrong one"
  fi
done

# 5. Kata: CRI-O refuses to start when a configured handler's files are missing.
if [ "$KATA" = yes ]; then
  if [ ! -f "$ROOT$KATA_CONFIG" ]; then
    refuse "$KATA_CONFIG is missing (runtime.kata is true); the host step installs Kata"
  fi
  if [ ! -e "$ROOT/dev/kvm" ]; then
    warn "/dev/kvm is missing: pods with runtimeClassName kata will fail (\"Could not access" \
      "KVM kernel module\"); expose hardware virtualisation to this host"
  fi
fi

if [ "$failed" -ne 0 ]; then
  echo "$NODE: $WANT was not installed; nothing was changed on this host" >&2
  exit 1
fi
echo "$NODE: no other container runtime here; installing $WANT"
