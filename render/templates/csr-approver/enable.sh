#% params: UNIT SERVICE HASH HASH_DIR WATCHED
# Starts the approver timer $UNIT (restarted only when its files, sha256 $HASH, changed) and runs
# one pass now.
set -eu
if ! command -v openssl >/dev/null 2>&1; then
  echo "error: openssl is missing on this control plane; the CSR approver reads requests with it" \
    "(install the openssl package)" >&2
  exit 1
fi
#% include: lib/start-or-restart.sh
start_or_restart
record_hash
systemctl start "$SERVICE" || echo "warning: the first approver pass failed (API not up yet?); the timer retries" >&2
