#% params: UNIT UNIT_FILE MARKER KUBE_PROXY
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
systemctl daemon-reload || true
