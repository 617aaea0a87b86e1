#% params: TIMER SERVICE MARKER
# Stops the approver timer and service we installed.
set -u
for unit in "$TIMER" "$SERVICE"; do
  if grep -qsF "$MARKER" "/etc/systemd/system/$unit"; then
    systemctl disable --now "$unit" >/dev/null 2>&1 || true
    systemctl reset-failed "$unit" >/dev/null 2>&1 || true
  fi
done
systemctl daemon-reload || true
