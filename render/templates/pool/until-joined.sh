#% params: NODE CLIENT_CERT SERVING_CERT LIMIT EVERY UNIT
# A pool node's join, run on the node itself: a pool reaches no control plane, so the cluster's
# CSR approver (a timer on every control plane, every $EVERY) approves its kubelet's client
# certificate, then its serving certificate, as its allow list says. Waits for both, at most
# $LIMIT seconds.
set -eu
deadline=$(($(date +%s) + LIMIT))
until [ -s "$CLIENT_CERT" ] && [ -s "$SERVING_CERT" ]; do
  if [ "$(date +%s)" -ge "$deadline" ]; then
    if [ -s "$CLIENT_CERT" ]; then
      missing="its serving certificate ($SERVING_CERT)"
    else
      missing="its client certificate ($CLIENT_CERT)"
    fi
    echo "error: $NODE: kubelet still lacks $missing after $LIMIT s. The cluster's CSR approver" \
      "approves it every $EVERY: is k8s-from-scratch-csr-approver.timer active on a control plane, does" \
      "its journal name $NODE? kubelet's last log lines:" >&2
    journalctl -u "$UNIT" -n 30 --no-pager >&2 2>/dev/null || true
    exit 1
  fi
  sleep 2
done
echo "$NODE: joined (client and serving certificates approved by the cluster's approver)"
