"""The migration to NodeHosts drops exactly a worker-only node's old resources from a state, and
every reference to them, and keeps a control plane's."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest

from scripts.migrate_node_hosts import classic_names, migrated, worker_only_nodes

PREFIX = "urn:pulumi:dev::k8s-from-scratch::"


def res(type_: str, name: str, deps: Sequence[str] = (), parent: str | None = None) -> dict[str, Any]:
    r: dict[str, Any] = {
        "urn": f"{PREFIX}{type_}::{name}",
        "type": type_.rsplit("$", 1)[-1],
        "dependencies": list(deps),
    }
    if parent:
        r["parent"] = parent
    return r


def deployment() -> dict[str, Any]:
    cluster = res("k8s-from-scratch:index:Cluster", "c")
    out = [cluster]
    for node, roles in (("cp1", ("EtcdMember", "ControlPlane")), ("w1", ())):
        host = res(
            "k8s-from-scratch:index:Cluster$k8s-from-scratch:index:Host",
            f"c-host-{node}",
            parent=cluster["urn"],
        )
        out.append(host)
        out.append(res("command:remote:Command", f"c-host-{node}-prepare", parent=host["urn"]))
        for kind in roles:
            short = "etcd" if kind == "EtcdMember" else "cp"
            out.append(res(f"k8s-from-scratch:index:{kind}", f"c-{short}-{node}", parent=cluster["urn"]))
        kubelet = res("command:remote:Command", f"c-{node}-node-kubelet", [out[-1]["urn"]])
        out.append(kubelet)
        out.append(res("kubernetes:core/v1:ConfigMap", f"c-join-{node}-allow"))
        out.append(res("command:remote:Command", f"c-join-{node}-serving", [kubelet["urn"]]))
    serving = [r["urn"] for r in out if r["urn"].endswith("-serving")]
    cni = res("k8s-from-scratch:index:Cni", "c-cni", serving)
    cni["propertyDependencies"] = {"x": serving}
    out.append(cni)
    return {"resources": out}


def test_only_the_worker_only_nodes_resources_go_and_no_reference_to_them_stays() -> None:
    before = deployment()
    assert worker_only_nodes(before["resources"]) == ("c", ["w1"])
    after, removed = migrated(before)
    assert removed == sorted(
        ["c-host-w1", "c-host-w1-prepare", "c-w1-node-kubelet", "c-join-w1-allow", "c-join-w1-serving"]
    )
    names = [r["urn"].rsplit("::", 1)[-1] for r in after["resources"]]
    assert "c-host-cp1" in names and "c-cp1-node-kubelet" in names and "c-join-cp1-serving" in names
    (cni,) = [r for r in after["resources"] if r["urn"].endswith("::c-cni")]
    assert [d.rsplit("::", 1)[-1] for d in cni["dependencies"]] == ["c-join-cp1-serving"]
    assert [d.rsplit("::", 1)[-1] for d in cni["propertyDependencies"]["x"]] == ["c-join-cp1-serving"]
    assert migrated(after)[1] == []  # twice is once


def test_every_old_resource_of_a_worker_is_named() -> None:
    assert len(classic_names("c", "w1")) == 15


def test_a_state_with_pending_operations_or_without_a_cluster_is_refused() -> None:
    with pytest.raises(ValueError, match="pending operations"):
        migrated({**deployment(), "pending_operations": [{}]})
    with pytest.raises(ValueError, match="no Cluster"):
        migrated({"resources": []})
