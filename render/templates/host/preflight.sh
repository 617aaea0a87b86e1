#% params: ROLES ARCH MEM_MIN_MB MEM_WARN_MB MEM_WARN_WHY KUBELET KUBELET_VERSION MODULES PORTS
# Read-only checks with clear answers; nothing on the host changes.
failed=0
fail() {
  echo "preflight FAILED: $*" >&2
  failed=1
}
warn() { echo "preflight warning: $*"; }

echo "$NODE: OS family $FAMILY"
if [ ! -d /run/systemd/system ]; then
  fail "systemd is not the init system; every component here runs as a systemd service"
fi

machine=$(uname -m)
case "$machine" in
  x86_64) arch=amd64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) arch=$machine ;;
esac
if [ "$arch" != "$ARCH" ]; then
  fail "the host is $machine ($arch) but nodes[].arch says $ARCH: set arch: $arch for $NODE"
fi

mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
if [ "$mem_mb" -lt "$MEM_MIN_MB" ]; then
  fail "$NODE has ${mem_mb} MiB of RAM; its roles ($ROLES) need at least ${MEM_MIN_MB} MiB" \
    "(control planes: a 2 GB machine, workers: a 1 GB machine)"
elif [ "$mem_mb" -lt "$MEM_WARN_MB" ]; then
  warn "$NODE has only ${mem_mb} MiB of RAM: $MEM_WARN_WHY"
fi

if [ "$KUBELET" = yes ]; then
  if [ "$(stat -fc %T /sys/fs/cgroup 2>/dev/null)" != cgroup2fs ]; then
    # The kubelet step detects cgroup v1 and sets failCgroupV1: false in a drop-in.
    warn "$NODE runs cgroup v1, deprecated: kubelet $KUBELET_VERSION refuses it (1.35+) unless failCgroupV1 is" \
      "false, which the kubelet step sets on such hosts; move to cgroup v2 before upgrading"
  elif ! grep -qw memory /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
    if [ -f /boot/firmware/cmdline.txt ] || [ -f /boot/cmdline.txt ]; then
      warn "the memory cgroup controller is off; host prep adds cgroup_enable=memory to the" \
        "kernel command line, which needs one reboot"
    else
      fail "the memory cgroup controller is not available; kubelet cannot enforce limits"
    fi
  fi
fi

# A module built into the kernel has no /sys/module entry on every kernel: look for what it
# provides instead.
module_present() {
  [ -d "/sys/module/$1" ] && return 0
  case $1 in
    br_netfilter) [ -d /proc/sys/net/bridge ] ;;
    overlay) grep -qw overlay /proc/filesystems ;;
    nf_conntrack) [ -e /proc/sys/net/netfilter/nf_conntrack_max ] ;;
    ip_vs*) [ -e /proc/net/ip_vs ] ;;
    *) grep -q "/$1.ko" "/lib/modules/$(uname -r)/modules.builtin" 2>/dev/null ;;
  esac
}

for m in $MODULES; do
  if module_present "$m"; then
    continue
  fi
  if in_container; then
    fail "kernel module $m is not loaded and cannot be loaded from inside a container:" \
      "load it on the machine that runs $NODE"
  elif ! modprobe -n "$m" >/dev/null 2>&1; then
    fail "kernel module $m is not available for kernel $(uname -r)"
  fi
done

if command -v ss >/dev/null 2>&1; then
  for entry in $PORTS; do
    port=${entry%%:*}
    owner=${entry#*:}
    users=$(ss -Hltnp "sport = :$port" 2>/dev/null || true)
    if [ -n "$users" ] && ! printf '%s' "$users" | grep -q "\"$owner\""; then
      fail "TCP port $port, which $owner needs, is in use: $users"
    fi
  done
else
  warn "ss (iproute2) is missing: ports were not checked"
fi

if [ "$failed" -ne 0 ]; then
  echo "$NODE: preflight failed; nothing was changed on this host" >&2
  exit 1
fi
echo "$NODE: preflight passed (${mem_mb} MiB RAM, $machine)"
