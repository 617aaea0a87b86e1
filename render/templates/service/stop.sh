#% params: UNIT STATE_DIR REMOVE
# Stop and disable one service and forget it; remove the paths it owned.
set -eu
if systemctl list-unit-files "$UNIT" >/dev/null 2>&1; then
  systemctl disable --now "$UNIT" 2>&1 || true
fi
systemctl reset-failed "$UNIT" 2>/dev/null || true
rm -f "$STATE_DIR/$UNIT.hash" "$STATE_DIR/$UNIT.hash.new"
rmdir "$STATE_DIR" 2>/dev/null || true
for path in $REMOVE; do
  rm -rf "$path"
done
