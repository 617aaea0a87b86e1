"""The kubelets and the scheduler of the engine bench's fake cluster, in one small loop.

The engine bench (bench/engine.py) runs a real etcd, kube-apiserver and kube-controller-manager
but no node: this process registers a Node object for every node of the stack, binds each pending
pod to a node (a DaemonSet's pod to the node its affinity names) and reports it running and ready,
so that pulumi-kubernetes' await logic (Deployment rollout, DaemonSet, Service endpoints) finishes
as on a healthy cluster. Nothing runs: there are no containers.

`python -m bench.fake_kubelet --server URL --ca F --cert F --key F --nodes F [--every S]`, inside
the bench's network namespace (where the API's name resolves). Standard library only.
"""

from __future__ import annotations

import argparse
import itertools
import json
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POD_IPS = "10.240"  # fake pod IPs: 10.240.x.y, inside the bench stacks' pod range


def node_object(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"bench": "fake"}}}


def node_ready_status(now: str) -> dict[str, Any]:
    return {
        "status": {
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "KubeletReady",
                    "message": "fake kubelet (bench)",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
            ]
        }
    }


def affinity_node(pod: dict[str, Any]) -> str | None:
    """The node a DaemonSet pod is pinned to (requiredDuringScheduling matchFields
    metadata.name), else None."""
    affinity = (pod.get("spec") or {}).get("affinity") or {}
    required = (affinity.get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        for field in term.get("matchFields") or []:
            if field.get("key") == "metadata.name" and field.get("operator") == "In" and field.get("values"):
                return str(field["values"][0])
    return None


def ready_status(pod: dict[str, Any], ip: str, now: str) -> dict[str, Any]:
    """A pod status as a kubelet reports a started, ready pod."""
    containers = (pod.get("spec") or {}).get("containers") or []
    conditions = [
        {"type": kind, "status": "True", "lastTransitionTime": now}
        for kind in ("PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready", "PodScheduled")
    ]
    return {
        "status": {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": "127.0.0.1",
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": now,
            "containerStatuses": [
                {
                    "name": c["name"],
                    "image": c.get("image", "none"),
                    "imageID": "",
                    "ready": True,
                    "started": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
                for c in containers
            ],
        }
    }


def pod_ips() -> Iterator[str]:
    for third, fourth in itertools.product(range(256), range(2, 255)):
        yield f"{POD_IPS}.{third}.{fourth}"


class Api:
    def __init__(self, server: str, ca: Path, cert: Path, key: Path) -> None:
        self.server = server.rstrip("/")
        self.context = ssl.create_default_context(cafile=str(ca))
        self.context.load_cert_chain(str(cert), str(key))

    def call(
        self, method: str, path: str, body: dict[str, Any] | None = None, content: str = "application/json"
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.server}{path}", data=data, method=method)
        request.add_header("Content-Type", content)
        request.add_header("Accept", "application/json")
        with urllib.request.urlopen(request, context=self.context, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read() or b"{}")
            return answer


def now_text() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def register_nodes(api: Api, names: list[str]) -> None:
    for name in names:
        try:
            api.call("POST", "/api/v1/nodes", node_object(name))
        except urllib.error.HTTPError as err:
            if err.code != 409:  # already registered
                raise
        api.call(
            "PATCH",
            f"/api/v1/nodes/{name}/status",
            node_ready_status(now_text()),
            "application/merge-patch+json",
        )


def settle_pods(api: Api, nodes: list[str], ips: Iterator[str], turn: Iterator[int]) -> int:
    """Binds and starts every pending pod; returns how many it started."""
    pending = api.call("GET", "/api/v1/pods?fieldSelector=status.phase%3DPending")
    started = 0
    for pod in pending.get("items") or []:
        meta = pod["metadata"]
        where = f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}"
        try:
            if not (pod.get("spec") or {}).get("nodeName"):
                node = affinity_node(pod) or nodes[next(turn) % len(nodes)]
                binding = {
                    "apiVersion": "v1",
                    "kind": "Binding",
                    "metadata": {"name": meta["name"]},
                    "target": {"apiVersion": "v1", "kind": "Node", "name": node},
                }
                api.call("POST", f"{where}/binding", binding)
            api.call(
                "PATCH",
                f"{where}/status",
                ready_status(pod, next(ips), now_text()),
                "application/merge-patch+json",
            )
            started += 1
        except urllib.error.HTTPError as err:
            if err.code not in (404, 409):  # gone, or bound meanwhile: the next pass sees it again
                raise
    return started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fake_kubelet", description=__doc__)
    parser.add_argument("--server", required=True)
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("--nodes", type=Path, required=True, help="a file with one node name a line")
    parser.add_argument("--every", type=float, default=1.0, help="seconds between passes")
    args = parser.parse_args(argv)
    api = Api(args.server, args.ca, args.cert, args.key)
    names = [n for n in args.nodes.read_text().split() if n]
    register_nodes(api, names)
    print(f"fake kubelet: {len(names)} nodes registered", flush=True)
    ips, turn = pod_ips(), itertools.count()
    while True:
        try:
            started = settle_pods(api, names, ips, turn)
            if started:
                print(f"fake kubelet: started {started} pods", flush=True)
        except (urllib.error.URLError, OSError) as err:  # the API restarting: try again
            print(f"fake kubelet: {err}", file=sys.stderr, flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    sys.exit(main())
