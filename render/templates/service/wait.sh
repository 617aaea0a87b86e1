#% params: WHAT UNIT TRIES INTERVAL
# Wait until healthy() passes, a bounded number of times, with a clear failure.
set -eu
i=0
until healthy; do
  i=$((i + 1))
  if [ "$i" -ge "$TRIES" ]; then
    echo "error: $WHAT did not become healthy within $((TRIES * INTERVAL))s" >&2
    if [ -n "$UNIT" ]; then
      journalctl -u "$UNIT" -n 40 --no-pager >&2 2>/dev/null || true
    fi
    exit 1
  fi
  sleep "$INTERVAL"
done
echo "$WHAT: healthy"
