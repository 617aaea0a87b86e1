#% params: TIMER SERVICE MARKER HASH_DIR
# Stops the approver timer and service we installed.
set -u
for unit in "$TIMER" "$SERVICE"; do
  if grep -qsF "$MARKER" "/etc/systemd/system/$unit"; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
    systemctl reset-failed "$unit" >/dev/null 2>&1 || true
  fi
done
rm -f "$HASH_DIR/$TIMER.hash" "$HASH_DIR/$TIMER.hash.new"
rmdir "$HASH_DIR" 2>/dev/null || true
systemctl daemon-reload || true
