"""Published checksums of upstream release artifacts, pinned. Source of each: below.

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

# (artifact, version, arch) -> "sha256:<hex>" or "sha512:<hex>"
CHECKSUMS: dict[tuple[str, str, str], str] = {
    # kubernetes-server [CL]
    ("kubernetes-server", "1.35.4", "amd64"): (
        "sha512:7454c2d9023de3230972e965e1e2a587a291e2a1abee703bb0737057e1646b23"
        "ebac538b93dd778e93579e3c293dc1fa8d002e6848ad5ebc01598bc47358fe44"
    ),
    ("kubernetes-server", "1.35.4", "arm64"): (
        "sha512:67187a2fe780be7816f9d10e082ed02cbba306bab379980280d00ba4c4017ff5"
        "3c50cd2ff81d248c91ddcc064276b8760e17c73a1a7da1d35067a6fc0ffbdc88"
    ),
    # kubernetes-node [CL]
    ("kubernetes-node", "1.35.4", "amd64"): (
        "sha512:bfdde7cb0eb382d28b37a499d041a210a10afc86280b1d0eefeec179e8563b88"
        "48f744ad0302a239662e3b5219622cdc2925a69c9d8098d7cd6237c659d78932"
    ),
    ("kubernetes-node", "1.35.4", "arm64"): (
        "sha512:754ed5fc01a1675b7aad31feb4b4a68ebde1d63411e2565249cac9cc7b576316"
        "52808f3ec2fcc3530c9a5b2dbd39cef305b4f286c39f35e70ede616458312b3b"
    ),
    # kubelet [KS]
    ("kubelet", "1.35.4", "amd64"): (
        "sha256:983a6ba5a49823dcdd745c674e5e2416377dd27d6ad1b42d2befa0fb961a19f6"
    ),
    ("kubelet", "1.35.4", "arm64"): (
        "sha256:d710eef03bb4ad164bb77af9be5b11b44f874e2fc08153c7d383420d685f73e8"
    ),
    # kubectl [KS]
    ("kubectl", "1.35.4", "amd64"): (
        "sha256:b529430df69a688fd61b64ad2299edb5fd71cb58be2a4779dba624c7d3510efd"
    ),
    ("kubectl", "1.35.4", "arm64"): (
        "sha256:6a5a4cc4e396d7626a7a693a3044b51c75520f81db30fe6816c2554e53be336f"
    ),
    # kubeadm [KS]
    ("kubeadm", "1.35.4", "amd64"): (
        "sha256:0c0497da793f8897c14e45340da919534b615294a1aab69dc1998896c0f11145"
    ),
    ("kubeadm", "1.35.4", "arm64"): (
        "sha256:e8f6b5bee3e2c8b5965f4ae65c2ae04e3f9f426d2458a1e2f159e824d419d92c"
    ),
    # etcd [KS]
    ("etcd", "3.6.15", "amd64"): ("sha256:b51d86e6bff2168de5ba8cd631c0fe6c785c7a1b32b083079f5677d6b7e2772c"),
    ("etcd", "3.6.15", "arm64"): ("sha256:567d9b8fa9e75b349600d2b64ef9bf6bc6d512cea75a2ce1c39b1b3046131244"),
    ("etcd", "3.6.10", "amd64"): ("sha256:ed579fafab5701e3aaa95509969e7bc74776a4ae5269d32e3928408b406456ec"),
    ("etcd", "3.6.10", "arm64"): ("sha256:e40dc34b7a512b99c651f7700c1014e9b76e02415e2e24365b248966b173524c"),
    ("etcd", "3.6.6", "amd64"): ("sha256:887afaa4a99f22d802ccdfbe65730a5e79aa5c9ce2c8799c67e9d804c50ecedb"),
    ("etcd", "3.6.6", "arm64"): ("sha256:8a15f5427c111ff4692753682374970fb68878401d946c2c28bdad6857db652f"),
    # containerd [KS]
    ("containerd", "2.2.8", "amd64"): (
        "sha256:27b74a4f85c9bf5ffcedcbc4aaa7408ae3c5e7079a6130aeda5c252288d59d67"
    ),
    ("containerd", "2.2.8", "arm64"): (
        "sha256:b3b4df2527f89cac447c5fc065466aa27ac9959a7578e554ed56981133562e48"
    ),
    # runc [KS]
    ("runc", "1.4.3", "amd64"): ("sha256:f6ae8efc0fa40079e1475e97cbe9d1bd3f106a28d6af78a11d9f1bd565515e60"),
    ("runc", "1.4.3", "arm64"): ("sha256:633301e2e32f8a5ad54031aab4901eb00308bec677dd15faa2751e8f9dab5ca4"),
    ("runc", "1.3.6", "amd64"): ("sha256:3f3921dbbee7723e9868f97e88e51ffc910206e3ba55646e74d93d24ea76023c"),
    ("runc", "1.3.6", "arm64"): ("sha256:6be27a061ef89bb14c6cb495405bba80f46cea213b8f79378a6086b1bac6b747"),
    # cni-plugins [KS]
    ("cni-plugins", "1.9.1", "amd64"): (
        "sha256:b98f74a0f8522f0a83867178729c1aa70f2158f90c45a2ca8fa791db1c76b303"
    ),
    ("cni-plugins", "1.9.1", "arm64"): (
        "sha256:56171987d3947707c3563db2f4001bccaf50fd63468611b9f3cbecb1375ee7ec"
    ),
    # crictl [KS]
    ("crictl", "1.35.0", "amd64"): (
        "sha256:2e141e5b22cb189c40365a11807d69b76b9b3caced89fac2f4ec879408ce2177"
    ),
    ("crictl", "1.35.0", "arm64"): (
        "sha256:519071de89b64c43e2a1661bb5489c6c3fd5e9e5fcef75e50e542b0c891f1118"
    ),
    # crio [KS]
    ("crio", "1.35.9", "amd64"): ("sha256:03c4bffeb592d1cf1589448b271a3ac8f0989a2cb4039611a5eef6fe4afea2bc"),
    ("crio", "1.35.9", "arm64"): ("sha256:faee02930deb02deaa53c590a2722f439ad4b7f1e1198660eec7f95594a0a639"),
    ("crio", "1.35.4", "amd64"): ("sha256:9a6fe982fc36efa9111c31ef65125dff09b1c9c1303b9e0616b9cd436d3b02bb"),
    ("crio", "1.35.4", "arm64"): ("sha256:0d7def689e10db62dbc4c03555e55d4c5d11c25055a68838092045a349ad37ec"),
    # kata [KS]
    ("kata", "3.7.0", "amd64"): ("sha256:bebf218cafdc082476c7dabbcc5439aee6a41d6dda24dd3cfffbe0a6ae94e23d"),
    ("kata", "3.7.0", "arm64"): ("sha256:23e0d5c4e38c6944729a11c631f947abc5aab19427a44d8691bfb9ad1c38b831"),
}
