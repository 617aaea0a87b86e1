#% params: TIMER SERVICE HASH
# Starts the approver timer (its files: sha256 $HASH) and runs one pass now.
set -eu
if ! command -v openssl >/dev/null 2>&1; then
  echo "error: openssl is missing on this control plane; the CSR approver reads requests with it" \
    "(install the openssl package)" >&2
  exit 1
fi
echo "approver files sha256 $HASH"
systemctl daemon-reload
systemctl enable --now "$TIMER" 2>&1
systemctl restart "$TIMER"
systemctl start "$SERVICE" || echo "warning: the first approver pass failed (API not up yet?); the timer retries" >&2
