#!/usr/bin/env bash
# After `make up`: what a user needs next. Writes the admin kubeconfig (mode 0600), prints the
# stack outputs and a ready kubectl command with the toolchain's kubectl of the server's version.
#   lab/after-up.sh STACK KUBECONFIG_PATH     (pulumi on PATH, backend and passphrase in the env)
set -euo pipefail
stack=$1 conf=$2
toolchain=${K8SFS_TOOLCHAIN_DIR:-/var/cache/k8s-from-scratch/toolchain}

mkdir -p "$(dirname "$conf")"
(
	umask 077
	pulumi stack output --stack "$stack" --show-secrets adminKubeconfig >"$conf.tmp"
)
mv "$conf.tmp" "$conf"
chmod 0600 "$conf"

echo
echo "== stack $stack: outputs (secrets hidden; pulumi stack output --show-secrets shows them)"
pulumi stack output --stack "$stack"
version=$(pulumi stack output --stack "$stack" kubernetesVersion)
kubectl="$toolchain/kubernetes/v$version/linux-$(go env GOARCH 2>/dev/null || echo amd64)/kubectl"
[[ -x $kubectl ]] || kubectl=kubectl
echo
echo "== the admin kubeconfig is in $conf (mode 0600)"
echo "   $kubectl --kubeconfig $conf get nodes -o wide"
