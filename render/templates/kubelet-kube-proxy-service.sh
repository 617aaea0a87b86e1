# (Re)starts kube-proxy with its current files (sha256 $HASH: a changed file is an update of
# this step) and checks that it keeps running.
set -eu
restarts() {
  systemctl show -p NRestarts --value "$UNIT" 2>/dev/null || echo 0
}
systemctl daemon-reload
systemctl enable "$UNIT" 2>&1
echo "restarting $UNIT (files sha256 $HASH)"
systemctl restart "$UNIT"
before=$(restarts)
sleep 10
if ! systemctl is-active --quiet "$UNIT" || [ "$(restarts)" != "$before" ]; then
  echo "error: $NODE: kube-proxy keeps restarting; its last log lines:" >&2
  journalctl -u "$UNIT" -n 40 --no-pager >&2 || true
  exit 1
fi
echo "$NODE: kube-proxy is running"
