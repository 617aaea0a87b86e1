"""Published checksums of upstream release artifacts, pinned in spec/checksums.txt. Sources: below.

Sources (stored copies of public repositories, read through the offline search index):

[KS] kubespray's checksum table roles/kubespray_defaults/vars/main/checksums.yml, as
     carried in the fork guoard/kubespray @ 19a0a51ac6334b727598424013200fd7f1b17111.
     That is the newest copy of the table found; the stored kubernetes-sigs/kubespray
     copies stop at kubelet 1.35.1 and etcd 3.5.27. Every entry the fork shares with
     upstream kubernetes-sigs/kubespray @ 005bdce7f1867958838a2d0bb4f7e67893d98f64
     (kubelet/kubectl/kubeadm 1.35.0-1.35.1, crictl 1.35.0, cri-o 1.35.0, containerd
     2.2.1, runc 1.3.4, cni 1.8.0, kata 3.7.0) is byte-identical. Independent checks:
     kubelet and kubeadm arm64 1.35.4 and the etcd 3.6.10 arm64 prefix match notes that
     cite kubespray tag v2.31.0; etcd 3.6.6 amd64 matches a quoted etcd v3.6.6
     SHA256SUMS line and the losisin/kubespray fork.
[CL] kubernetes/kubernetes CHANGELOG/CHANGELOG-1.35.md
     @ 008b3652959ca58af8be3fb5b6ecfe9ae7638282, "v1.35.4 / Downloads", sha512 column.
     (In that copy the hash column is plain text, not back-quoted as in older releases.)

Per artifact: download URL pattern (as in kubespray's
roles/kubespray_defaults/defaults/main/download.yml; long ones split over two lines,
join them without a space), archive type, binaries inside, source.

kubernetes-server [CL] sha512
    https://dl.k8s.io/v{version}/kubernetes-server-linux-{arch}.tar.gz
    tar.gz: kubernetes/server/bin/{kube-apiserver,kube-controller-manager,
    kube-scheduler,kube-proxy,kubelet,kubectl,kubeadm} (usual layout; not read here).
kubernetes-node [CL] sha512
    https://dl.k8s.io/v{version}/kubernetes-node-linux-{arch}.tar.gz
    tar.gz: kubernetes/node/bin/{kubelet,kube-proxy,kubectl,kubeadm} (not read here).
kubelet, kubectl, kubeadm [KS] sha256
    https://dl.k8s.io/release/v{version}/bin/linux/{arch}/{kubelet|kubectl|kubeadm}
    bare binaries, no archive.
etcd [KS] sha256
    https://github.com/etcd-io/etcd/releases/download/v{version}/
    etcd-v{version}-linux-{arch}.tar.gz
    tar.gz: etcd-v{version}-linux-{arch}/{etcd,etcdctl,etcdutl}.
containerd [KS] sha256
    https://github.com/containerd/containerd/releases/download/v{version}/
    containerd-{version}-linux-{arch}.tar.gz
    tar.gz: bin/{containerd,containerd-shim-runc-v2,ctr,containerd-stress}.
    These sums are for that (glibc) archive; the static variant
    containerd-static-{version}-linux-{arch}.tar.gz has other sums
    (kubespray containerd_static_archive_checksums, not pinned here).
runc [KS] sha256
    https://github.com/opencontainers/runc/releases/download/v{version}/runc.{arch}
    bare static binary; install as runc.
cni-plugins [KS] sha256
    https://github.com/containernetworking/plugins/releases/download/v{version}/
    cni-plugins-linux-{arch}-v{version}.tgz
    tgz, flat: ./bridge ./host-local ./loopback ./portmap ... (into /opt/cni/bin).
crictl [KS] sha256
    https://github.com/kubernetes-sigs/cri-tools/releases/download/v{version}/
    crictl-v{version}-linux-{arch}.tar.gz
    tar.gz holding the single file ./crictl.
crio [KS] sha256
    https://storage.googleapis.com/cri-o/artifacts/cri-o.{arch}.v{version}.tar.gz
    tar.gz: a cri-o/ tree (bin/crio, pinns, conmon, an OCI runtime, ..., install
    script); kubespray unpacks it whole. Inner layout not read here.
kata [KS] sha256
    https://github.com/kata-containers/kata-containers/releases/download/{version}/
    kata-static-{version}-{arch}.tar.xz   (tag without a leading "v")
    tar.xz: ./opt/kata/... (bin/containerd-shim-kata-v2, kata-runtime, share/...);
    layout not read here. 3.7.0 is the newest kata in kubespray's table.

Image and chart versions for Kubernetes 1.35 (no hashes):
    pause    3.10.1: kubespray vars/main/main.yml pod_infra_supported_versions '1.35'
             (and '1.34'); kubeadm 1.35 PauseVersion 3.10.1 per secondary sources only.
    CoreDNS  kubespray coredns_supported_versions '1.35': 1.12.4 ('1.34': 1.12.1,
             '1.36': 1.14.2), guoard/kubespray download.yml @ 22cc9fd5; kubeadm 1.35
             CoreDNSVersion v1.13.1 (kubernetes PR #133968; secondary sources).
    etcd     kubespray: newest 3.6.x in the table for '1.35' (3.6.15 here; PR #13190
             made 3.6.10 the 1.35 default earlier); '1.34'/'1.33' stay on 3.5.x.
             kubeadm: DefaultEtcdVersion 3.6.6-0 at v1.35.8 (secondary test fixture);
             master in the 1.36 cycle mapped 34/35/36 to 3.6.8-0, then 3.6.9-0.
    flannel  0.28.4, flannel-cni-plugin 1.7.1-flannel1 (download.yml @ 22cc9fd5).
    calico   3.31.7 (first key of calicoctl_binary_checksums) [KS].
    cilium   1.19.3 (download.yml @ 22cc9fd5); cilium-cli 0.18.9 [KS].
"""

from __future__ import annotations

from pathlib import Path

_DIGEST_SIZES = {"sha256": 64, "sha512": 128}


def is_checksum(text: str) -> bool:
    """ "sha256:<64 lowercase hex>" or "sha512:<128 lowercase hex>": the one checksum format."""
    algo, _, digest = text.partition(":")
    return len(digest) == _DIGEST_SIZES.get(algo) and all(c in "0123456789abcdef" for c in digest)


def _read_table(text: str) -> dict[str, str]:
    """Lines `<algo>:<hex> <artifact>/<version>/<arch>`; `#` starts a comment."""
    table: dict[str, str] = {}
    for line in text.splitlines():
        fields = line.partition("#")[0].split()
        if fields:
            digest, key = fields
            if not is_checksum(digest) or key.count("/") != 2:
                raise ValueError(
                    f"spec/checksums.txt: not `<algo>:<hex> <artifact>/<version>/<arch>`: {line}"
                )
            table[key] = digest
    return table


# "artifact/version/arch" (the key format of `binaries.checksums`) -> "sha256:<hex>" / "sha512:<hex>"
CHECKSUMS: dict[str, str] = _read_table(Path(__file__).with_name("checksums.txt").read_text())
