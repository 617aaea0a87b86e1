#% params: NODE HASH HASH_DIR WATCHED UNIT HOST_FACTS KUBECONFIG CLIENT_CERT BOOTSTRAP CLEANUP_PATH CLEANUP_SERVICE CGROUP_FS RESOLVED_CONF MEMINFO SMALL_NODE_MB SYSTEM_RESERVED KUBE_RESERVED
# Writes what only this host knows into kubelet's drop-in dir, starts kubelet or restarts it when
# its files (sha256 $HASH) or those host facts changed. A node that has its client certificate
# keeps no bootstrap token; one that has not gets the cleanup armed, which removes the token once
# the approver (NodeJoin, on a control plane) has let it join, and kubelet restarts with its token.
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

joined=no
if [ -s "$KUBECONFIG" ] && [ -s "$CLIENT_CERT" ]; then
  joined=yes
fi
systemctl daemon-reload
systemctl enable "$CLEANUP_PATH" 2>&1
if [ "$joined" = yes ]; then
  rm -f "$BOOTSTRAP"
  systemctl start "$CLEANUP_PATH"
else
  # Its oneshot stays active after a run (RemainAfterExit): stopped, the path fires again.
  systemctl stop "$CLEANUP_SERVICE" 2>/dev/null || true
  systemctl restart "$CLEANUP_PATH"
  wrote=yes # kubelet asks to join with the token it was just given
fi

#% include: lib/start-or-restart.sh
start_or_restart
# Still running 10 s after a (re)start, not restarting in a loop (a bad config fails here, not
# later).
before=$(restarts)
if [ "$restarted" = yes ]; then
  sleep 10
fi
if ! systemctl is-active --quiet "$UNIT" || [ "$(restarts)" != "$before" ]; then
  echo "error: $NODE: kubelet keeps restarting; its last log lines:" >&2
  journal >&2
  if [ "$joined" = no ]; then
    echo "$NODE has not joined yet: if the log says Unauthorized, its bootstrap token has expired" \
      "(docs/nodes.md, \"Joining\", says how to issue a new one)" >&2
  fi
  exit 1
fi
record_hash
if [ "$joined" = yes ]; then
  echo "$NODE: kubelet runs with its client certificate"
else
  echo "$NODE: kubelet runs and asks to join; NodeJoin approves it from a control plane"
fi
