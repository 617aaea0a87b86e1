#% params: UNIT UNIT_FILE MARKER HOST_FACTS STATE_DIR HASH_DIR CLEANUP_PATH CLEANUP_SERVICE BOOTSTRAP
# Stops our kubelet and removes what it left: pod volumes (unmounted first), its certificates
# and kubeconfig, the host-facts drop-in, its token cleanup. Never touches a kubelet that is
# not ours.
set -u
#% include: lib/unmount-under.sh

if grep -qsF "$MARKER" "$UNIT_FILE"; then
  systemctl disable --now "$UNIT" >/dev/null 2>&1 || true
  systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
  unmount_under "$STATE_DIR"
  rm -rf "$STATE_DIR"
else
  echo "$UNIT_FILE is not ours (or already gone): $UNIT left as it is"
fi
systemctl disable --now "$CLEANUP_PATH" >/dev/null 2>&1 || true
systemctl stop "$CLEANUP_SERVICE" >/dev/null 2>&1 || true
rm -f "$HOST_FACTS" "$BOOTSTRAP"
rm -f "$HASH_DIR/$UNIT.hash" "$HASH_DIR/$UNIT.hash.new"
rmdir "$HASH_DIR" 2>/dev/null || true
systemctl daemon-reload || true
