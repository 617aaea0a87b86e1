"""A fake toolchain and mirror for the lab stack, so tests of the dev preset need no Go build."""

from __future__ import annotations

from pathlib import Path

# What toolchain/build.sh builds for the dev stack (toolchain/versions.env), plus Debian's runc.
VERSIONS = {
    "etcd": "3.6.16",
    "containerd": "2.3.7",
    "cniPlugins": "1.9.1",
    "crictl": "1.37.0",
    "runc": "1.1.5",
}
BINARIES = {
    "kubernetes": (
        "kube-apiserver",
        "kube-controller-manager",
        "kube-scheduler",
        "kubelet",
        "kube-proxy",
        "kubectl",
    ),
    "etcd": ("etcd", "etcdctl", "etcdutl"),
    "containerd": ("containerd", "containerd-shim-runc-v2", "ctr"),
    "cni-plugins": ("bridge", "host-local", "loopback", "portmap"),
    "crictl": ("crictl",),
    "runc": ("runc",),
}
FOLDER_VERSION = {
    "kubernetes": "1.35.4",
    "etcd": "3.6.16",
    "containerd": "2.3.7",
    "cni-plugins": "1.9.1",
    "crictl": "1.37.0",
    "runc": "1.1.5",
}


def fake_toolchain(root: Path) -> Path:
    """The toolchain layout (<dir>/v<version>/linux-amd64/<binary>) with small distinct files."""
    for folder, names in BINARIES.items():
        out = root / folder / f"v{FOLDER_VERSION[folder]}" / "linux-amd64"
        out.mkdir(parents=True)
        for name in names:
            (out / name).write_text(f"#!/bin/sh\necho {folder}/{name}\n")
        (out / "SHA256SUMS").write_text("not a binary\n")
    return root
