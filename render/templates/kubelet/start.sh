#% params: NODE HASH HASH_DIR WATCHED UNIT HOST_FACTS KUBECONFIG CLIENT_CERT CGROUP_FS RESOLVED_CONF MEMINFO SMALL_NODE_MB SYSTEM_RESERVED KUBE_RESERVED WAIT API
# Writes what only this host knows into kubelet's drop-in dir, starts kubelet or restarts it when
# its files (sha256 $HASH) or those host facts changed, then waits until TLS bootstrap has given
# it a client certificate and it keeps running.
set -eu
warn() {
  echo "warning: $NODE: $*" >&2
}

cgroup_v1=no
if [ "$(stat -fc %T "$CGROUP_FS" 2>/dev/null)" != cgroup2fs ]; then
  cgroup_v1=yes
  warn "cgroup v1 host: kubelet is told to run anyway (failCgroupV1: false); cgroup v1 is" \
    "deprecated upstream, boot with systemd.unified_cgroup_hierarchy=1 where the OS allows"
fi
resolved=no
if systemctl is-active --quiet systemd-resolved 2>/dev/null && [ -f "$RESOLVED_CONF" ]; then
  resolved=yes
fi
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' "$MEMINFO")
small=no
if [ "$mem_mb" -lt "$SMALL_NODE_MB" ]; then
  small=yes
  warn "${mem_mb} MiB of RAM: kubelet reserves $SYSTEM_RESERVED for the system and" \
    "$KUBE_RESERVED for itself and the runtime, so pods are evicted before the node runs out"
fi

mkdir -p "$(dirname "$HOST_FACTS")"
tmp="$HOST_FACTS.k8sfs-new"
{
  echo "# Written by k8s-from-scratch when kubelet starts: what this host has."
  echo "apiVersion: kubelet.config.k8s.io/v1beta1"
  echo "kind: KubeletConfiguration"
  if [ "$cgroup_v1" = yes ]; then
    echo "failCgroupV1: false"
  fi
  if [ "$resolved" = yes ]; then
    # /etc/resolv.conf names systemd-resolved's 127.0.0.53 stub, which loops inside pods.
    echo "resolvConf: $RESOLVED_CONF"
  fi
  if [ "$small" = yes ]; then
    echo "systemReserved:"
    echo "  memory: $SYSTEM_RESERVED"
    echo "kubeReserved:"
    echo "  memory: $KUBE_RESERVED"
  fi
} >"$tmp"
chmod 0644 "$tmp"
wrote=no
if [ -f "$HOST_FACTS" ] && cmp -s "$tmp" "$HOST_FACTS"; then
  rm -f "$tmp"
else
  mv -f "$tmp" "$HOST_FACTS"
  wrote=yes
fi

journal() {
  journalctl -u "$UNIT" -n 40 --no-pager 2>/dev/null || true
}
#% include: lib/restarts.sh

#% include: lib/start-or-restart.sh
start_or_restart
i=0
until [ -s "$KUBECONFIG" ] && [ -s "$CLIENT_CERT" ]; do
  i=$((i + 1))
  if [ "$i" -ge "$WAIT" ]; then
    echo "error: $NODE: kubelet has no client certificate after $WAIT s: TLS bootstrap against" \
      "$API did not finish (API reachable? bootstrap token Secret and RBAC there?)." \
      "Its last log lines:" >&2
    journal >&2
    exit 1
  fi
  sleep 1
done
# Still running 10 s after a (re)start, not restarting in a loop (a bad config fails here, not
# later).
before=$(restarts)
if [ "$restarted" = yes ]; then
  sleep 10
fi
if ! systemctl is-active --quiet "$UNIT" || [ "$(restarts)" != "$before" ]; then
  echo "error: $NODE: kubelet keeps restarting; its last log lines:" >&2
  journal >&2
  exit 1
fi
record_hash
echo "$NODE: kubelet runs with its client certificate"
