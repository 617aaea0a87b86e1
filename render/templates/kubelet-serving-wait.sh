# Waits until kubelet holds its serving certificate: its kubernetes.io/kubelet-serving CSR was
# approved by our approver (never by the controller-manager) and signed.
set -eu
i=0
until [ -s "$SERVING_CERT" ]; do
  i=$((i + 1))
  if [ "$i" -ge "$WAIT" ]; then
    echo "error: $NODE: kubelet has no serving certificate after $WAIT s: its kubelet-serving" \
      "CSR is still pending. \`journalctl -u k8s-from-scratch-csr-approver\` on $APPROVER says" \
      "why it was left pending." >&2
    exit 1
  fi
  sleep 1
done
echo "$NODE: kubelet serves with an approved certificate"
