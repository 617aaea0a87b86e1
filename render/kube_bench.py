"""kube-bench's view of our layout: the CIS checks read kubeadm's paths (static pod manifests,
/var/lib/kubelet/config.yaml) unless its config.yaml names others. `config` patches kube-bench's
own config.yaml with where we put each component's unit, config, kubeconfig and data, from the
same constants the renderers write them with."""

from __future__ import annotations

import copy
from typing import Any

from render import control_plane as cp
from render import etcd, kube_proxy, kubelet
from render.systemd import UNIT_DIR

# The checks that cannot apply to our layout, each with why (docs/security.md lists them).
NOT_APPLICABLE = {
    "1.1.13": "no admin.conf on any host: the admin credential is only a stack output",
    "1.1.14": "no admin.conf on any host: the admin credential is only a stack output",
}


# kube-bench reads each kind of path from a list (tried in order) and a default: "conf" and
# "datadir" from `confs`/`datadirs`, the others from a list named like the kind.
_PLURAL = {"conf": "confs", "datadir": "datadirs"}


def _paths(**paths: str) -> dict[str, Any]:
    """kube-bench's keys naming exactly these paths: `conf=...` sets `confs` and `defaultconf`."""
    out: dict[str, Any] = {}
    for kind, path in paths.items():
        out[_PLURAL.get(kind, kind)] = [path]
        out[f"default{kind}"] = path
    return out


def config(upstream: dict[str, Any]) -> dict[str, Any]:
    """kube-bench's config.yaml (parsed) with our paths in place of kubeadm's."""
    out = copy.deepcopy(upstream)
    master = out["master"]
    master["apiserver"].update(_paths(conf=f"{UNIT_DIR}/{cp.APISERVER}.service"))
    # The kubeconfigs on disk (root's), not the copies each service reads (render.control_plane.SECRETS).
    for component, unit, kubeconfig in (
        ("scheduler", cp.SCHEDULER, cp.SCHEDULER_KUBECONFIG),
        ("controllermanager", cp.KCM, cp.KCM_KUBECONFIG),
    ):
        master[component].update(_paths(conf=f"{UNIT_DIR}/{unit}.service", kubeconfig=kubeconfig))
    etcd_paths = _paths(conf=f"{UNIT_DIR}/{etcd.UNIT}", datadir=etcd.EtcdLayout().data_dir)
    for section in (master["etcd"], out["etcd"]["etcd"]):
        section.update(etcd_paths)
    out["node"]["kubelet"].update(
        _paths(
            conf=kubelet.CONFIG,
            svc=kubelet.UNIT_FILE,
            kubeconfig=kubelet.KUBECONFIG,
            cafile=kubelet.CLIENT_CA,
        )
    )
    out["node"]["proxy"].update(
        _paths(conf=kube_proxy.CONFIG, svc=kube_proxy.UNIT_FILE, kubeconfig=kube_proxy.KUBECONFIG)
    )
    return out
