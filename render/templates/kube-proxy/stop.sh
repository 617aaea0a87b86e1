#% params: UNIT UNIT_FILE MARKER KUBE_PROXY HASH_DIR
# Stops our kube-proxy and removes the iptables/IPVS/nftables rules it programmed.
set -u
if grep -qsF "$MARKER" "$UNIT_FILE"; then
  systemctl disable --now "$UNIT" >/dev/null 2>&1 || true
  systemctl reset-failed "$UNIT" >/dev/null 2>&1 || true
  if [ -x "$KUBE_PROXY" ]; then
    "$KUBE_PROXY" --cleanup >/dev/null 2>&1 || true
  fi
else
  echo "$UNIT_FILE is not ours (or already gone): $UNIT left as it is"
fi
rm -f "$HASH_DIR/$UNIT.hash" "$HASH_DIR/$UNIT.hash.new"
rmdir "$HASH_DIR" 2>/dev/null || true
systemctl daemon-reload || true
