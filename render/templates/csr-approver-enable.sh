# Starts the approver timer (its files: sha256 $HASH) and runs one pass now.
set -eu
echo "approver files sha256 $HASH"
systemctl daemon-reload
systemctl enable --now "$TIMER" 2>&1
systemctl restart "$TIMER"
systemctl start "$SERVICE" || echo "warning: the first approver pass failed (API not up yet?); the timer retries" >&2
