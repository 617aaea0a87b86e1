#% params: UNIT HASH HASH_DIR WATCHED ENDPOINT CRICTL CTR STATE_DIRS OWNED_MARK
# Starts the runtime, or restarts it when its files (sha256 $HASH) changed, and waits until its
# CRI answers.
set -eu
for d in $STATE_DIRS; do
  if [ ! -e "$d" ]; then
    # Marked as ours, so destroy removes it (and never a directory another tool made).
    mkdir -p "$d"
    : >"$d/$OWNED_MARK"
  fi
done
#% include: lib/start-or-restart.sh
start_or_restart
cri_ready() {
  if [ -n "$CTR" ]; then
    "$CTR" --address "${ENDPOINT#unix://}" plugins ls 2>/dev/null |
      awk '$1 == "io.containerd.grpc.v1" && $2 == "cri" && $NF == "ok" { ok = 1 } END { exit !ok }'
  else
    "$CRICTL" --runtime-endpoint "$ENDPOINT" --timeout 2s info >/dev/null 2>&1
  fi
}
i=0
until cri_ready; do
  i=$((i + 1))
  if [ "$i" -ge 60 ]; then
    echo "error: $UNIT does not answer on $ENDPOINT after 60 s; its last log lines:" >&2
    journalctl -u "$UNIT" -n 40 --no-pager >&2 || true
    exit 1
  fi
  sleep 1
done
record_hash
echo "$UNIT answers on $ENDPOINT"
