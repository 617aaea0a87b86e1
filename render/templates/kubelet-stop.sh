# Stops our kubelet and removes what it left: pod volumes (unmounted first), its certificates
# and kubeconfig, the host-facts drop-in. Never touches a kubelet that is not ours.
set -u
unmount_under() {
  awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
    while read -r m; do
      umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

if grep -qsF "$MARKER" "$UNIT_FILE"; then
  systemctl disable --now "$UNIT" >/dev/null 2>&1 || true
  systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
  unmount_under "$STATE_DIR"
  rm -rf "$STATE_DIR"
else
  echo "$UNIT_FILE is not ours (or already gone): $UNIT left as it is"
fi
rm -f "$HOST_FACTS"
systemctl daemon-reload || true
