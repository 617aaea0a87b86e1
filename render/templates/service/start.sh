#% params: UNIT HASH STATE_DIR TRIES INTERVAL WAIT_AFTER_START NO_BLOCK
# Start or restart one systemd service, then wait until healthy() passes.
# The hash of the service's rendered files is recorded after a healthy start; the unit is
# restarted only when that hash changes.
set -eu
state="$STATE_DIR/$UNIT.hash"
mkdir -p "$STATE_DIR"

journal() {
  journalctl -u "$UNIT" -n 40 --no-pager 2>/dev/null || true
}

wait_healthy() {
  i=0
  until healthy; do
    i=$((i + 1))
    if [ "$i" -ge "$TRIES" ]; then
      echo "error: $UNIT is not healthy after $((TRIES * INTERVAL))s; its last log lines:" >&2
      journal >&2
      exit 1
    fi
    sleep "$INTERVAL"
  done
}

systemctl daemon-reload
systemctl enable "$UNIT" 2>&1
have=$(cat "$state" 2>/dev/null || true)
if ! systemctl is-active --quiet "$UNIT"; then
  echo "starting $UNIT"
  if [ "$NO_BLOCK" = yes ]; then
    systemctl start --no-block "$UNIT"
  elif ! systemctl start "$UNIT"; then
    echo "error: $UNIT failed to start; its last log lines:" >&2
    journal >&2
    exit 1
  fi
  if [ "$WAIT_AFTER_START" = yes ]; then
    wait_healthy
  fi
elif [ "$have" != "$HASH" ]; then
  echo "restarting $UNIT: its files changed"
  if ! systemctl restart "$UNIT"; then
    echo "error: $UNIT failed to restart; its last log lines:" >&2
    journal >&2
    exit 1
  fi
  wait_healthy
else
  echo "$UNIT: unchanged and running"
fi
echo "$HASH" > "$state.new"
mv -f "$state.new" "$state"
