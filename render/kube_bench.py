"""kube-bench's view of our layout: the CIS checks read kubeadm's paths (static pod manifests,
/var/lib/kubelet/config.yaml) unless its config.yaml names others. `config` patches kube-bench's
own config.yaml with where we put each component's unit, config, kubeconfig and data, from the
same constants the renderers write them with; `master` makes the benchmark's checks of a flag we
set in a config file read that file. PATCHED_FILES names both by their path under kube-bench's
cfg directory."""

from __future__ import annotations

import copy
from collections.abc import Callable
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


# The benchmark the lab runs, whose checks `master` patches.
BENCHMARK = "cis-1.12"

# Checks of a flag that we set in the component's config file instead, which its binary reads
# (kube-scheduler ignores --profiling and its other deprecated flags once it has --config): check
# id -> (the flag, the config file, the JSONPath of the setting there). kube-bench's own way for
# such a check, as in its kubelet checks: `audit_config` prints the file, and a test item whose
# flag is not on the command line reads its `path` there.
CONFIG_FILE_CHECKS = {
    "1.4.1": ("--profiling", cp.SCHEDULER_CONFIG, "{.enableProfiling}"),
}


def master(upstream: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's master.yaml (parsed) with CONFIG_FILE_CHECKS reading the config file."""
    out = copy.deepcopy(upstream)
    checks = {c["id"]: c for group in out["groups"] for c in group["checks"]}
    for check_id, (flag, path, json_path) in CONFIG_FILE_CHECKS.items():
        check = checks[check_id]
        (item,) = [t for t in check["tests"]["test_items"] if t.get("flag") == flag]
        check["audit_config"] = f"/bin/cat {path}"
        item["path"] = json_path
    return out


# Path under kube-bench's cfg directory -> how we patch that file (parsed YAML in, out).
PATCHED_FILES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "config.yaml": config,
    f"{BENCHMARK}/master.yaml": master,
}
