#% params: NODE UNIT HASH HASH_DIR WATCHED
# Starts kube-proxy, or restarts it when its files (sha256 $HASH) changed, and checks that it
# keeps running.
set -eu
#% include: lib/restarts.sh
#% include: lib/start-or-restart.sh
start_or_restart
before=$(restarts)
if [ "$restarted" = yes ]; then
  sleep 10
fi
if ! systemctl is-active --quiet "$UNIT" || [ "$(restarts)" != "$before" ]; then
  echo "error: $NODE: kube-proxy keeps restarting; its last log lines:" >&2
  journalctl -u "$UNIT" -n 40 --no-pager >&2 || true
  exit 1
fi
record_hash
echo "$NODE: kube-proxy is running"
