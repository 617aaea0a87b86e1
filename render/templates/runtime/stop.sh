#% params: UNIT UNIT_FILE MARKER HASH_DIR ENDPOINT CRICTL STATE_DIRS VOLATILE_DIRS OWNED_MARK
# Stops and removes the runtime we installed, with the pods kubelet left; never touches a
# unit that is not ours, and removes only state directories we created.
set -u
#% include: lib/unmount-under.sh

if grep -qsF "$MARKER" "$UNIT_FILE"; then
  if systemctl is-active --quiet "$UNIT"; then
    # kubelet is stopped by now (it depends on the runtime): no container or shim may outlive it.
    "$CRICTL" --runtime-endpoint "$ENDPOINT" --timeout 30s rmp --all --force >/dev/null 2>&1 || true
  fi
  systemctl disable --now "$UNIT" >/dev/null 2>&1 || true
  systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
  for d in $VOLATILE_DIRS; do
    unmount_under "$d"
    rm -rf "$d"
  done
else
  echo "$UNIT_FILE is not ours (or already gone): $UNIT left as it is"
fi
for d in $STATE_DIRS; do
  if [ -f "$d/$OWNED_MARK" ]; then
    unmount_under "$d"
    rm -rf "$d"
  fi
done
rm -f "$HASH_DIR/$UNIT.hash" "$HASH_DIR/$UNIT.hash.new"
rmdir "$HASH_DIR" 2>/dev/null || true
systemctl daemon-reload || true
