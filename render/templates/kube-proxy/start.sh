#% params: NODE UNIT HASH
# (Re)starts kube-proxy with its current files (sha256 $HASH: a changed file is an update of
# this step) and checks that it keeps running.
set -eu
#% include: lib/restarts.sh
#% include: lib/restart-unit.sh
before=$(restarts)
sleep 10
if ! systemctl is-active --quiet "$UNIT" || [ "$(restarts)" != "$before" ]; then
  echo "error: $NODE: kube-proxy keeps restarting; its last log lines:" >&2
  journalctl -u "$UNIT" -n 40 --no-pager >&2 || true
  exit 1
fi
echo "$NODE: kube-proxy is running"
