"""CRI-O's image policy (/etc/crio/policy.json): default-deny, the cluster's own registries and
runtime.crio.allowedRegistries accepted. The rendered JSON is checked against the rules of
containers-policy.json(5), matched the way containers/image matches image names to scopes, and,
with skopeo installed, evaluated by containers/image itself against a local fake registry."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from render import images
from render import runtime as rt
from spec.model import ClusterSpec
from tests.support.specs import TWO_NODES, config_spec
from tests.support.tools import need

# --- containers-policy.json(5), as this test reads it -------------------------------------------

TRANSPORTS = {
    "atomic",
    "containers-storage",
    "dir",
    "docker",
    "docker-archive",
    "docker-daemon",
    "oci",
    "oci-archive",
    "sif",
    "tarball",
}
# Requirements without parameters; the file is parsed strictly (an unknown field rejects it all).
BARE_REQUIREMENTS = {"insecureAcceptAnything", "reject"}
# docker transport scopes: host[:port] and repository path components as references spell them
# (lowercase), no tag or digest; or *.domain.
_HOST = r"[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[-A-Za-z0-9]*[A-Za-z0-9])?)*"
_PATH = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
DOCKER_SCOPE = re.compile(rf"^{_HOST}(?::[0-9]+)?(?:/{_PATH})*$")
WILDCARD_SCOPE = re.compile(rf"^\*\.{_HOST}$")


def schema_problems(doc: Any) -> list[str]:
    """Every way `doc` breaks the policy file's rules (empty: a valid policy)."""
    out: list[str] = []

    def requirements(where: str, value: Any) -> None:
        if not isinstance(value, list) or not value:
            out.append(f"{where}: not a non-empty list of requirements")
            return
        for req in value:
            if not isinstance(req, dict) or req.get("type") not in BARE_REQUIREMENTS or set(req) != {"type"}:
                out.append(f"{where}: {req!r} is not a requirement this policy should use")

    if not isinstance(doc, dict) or set(doc) - {"default", "transports"}:
        return [f"top level: {doc!r} is not an object of default and transports"]
    requirements("default", doc.get("default"))
    transports = doc.get("transports", {})
    if not isinstance(transports, dict):
        return [*out, "transports: not an object"]
    for transport, scopes in transports.items():
        if transport not in TRANSPORTS:
            out.append(f"transports: unknown transport {transport!r}")
        if not isinstance(scopes, dict):
            out.append(f"{transport}: not an object of scopes")
            continue
        for scope, reqs in scopes.items():
            ok = scope == "" or DOCKER_SCOPE.match(scope) or WILDCARD_SCOPE.match(scope)
            if transport == "docker" and not ok:
                out.append(f"docker: {scope!r} is not a registry scope")
            requirements(f"{transport}[{scope!r}]", reqs)
    return out


def namespaces(image: str) -> list[str]:
    """The scopes containers/image tries for a docker:// image, most specific first: the
    repository, each parent namespace up to the host[:port], then *.domain wildcards of the host
    without its port (docker/policyconfiguration DockerReferenceNamespaces), then ""."""
    name = images.repository(image)
    out = []
    while True:
        out.append(name)
        if "/" not in name:
            break
        name = name.rsplit("/", 1)[0]
    host = name.split(":", 1)[0]
    while "." in host:
        host = host.split(".", 1)[1]
        out.append(f"*.{host}")
    return [*out, ""]


def accepted(policy: dict[str, Any], image: str) -> bool:
    """containers/image's decision for pulling docker://<image>: the first scope that matches."""
    scopes = policy.get("transports", {}).get("docker", {})
    reqs = next((scopes[n] for n in namespaces(image) if n in scopes), policy["default"])
    return all(r["type"] != "reject" for r in reqs)


def crio(**top: Any) -> ClusterSpec:
    runtime = {"name": "crio", **top.pop("runtime", {})}
    return config_spec(TWO_NODES, runtime=runtime, **top)


def policy_of(spec: ClusterSpec) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(rt.crio_policy(spec))
    return doc


# The images the upstream charts and manifests of the pinned releases deploy (a sample of each).
UPSTREAM_IMAGES = {
    "calico": [
        "quay.io/tigera/operator:v1.40.7",
        "docker.io/calico/node:v3.31.7",
        "quay.io/calico/cni:v3.31.7",
    ],
    "canal": [
        "docker.io/calico/node:v3.31.7",
        "quay.io/calico/cni:v3.31.7",
        "docker.io/flannel/flannel:v0.26.7",
    ],
    "cilium": [
        "quay.io/cilium/cilium:v1.19.3@sha256:" + "ab" * 32,
        "quay.io/cilium/operator-generic:v1.19.3",
    ],
    "weave": ["weaveworks/weave-kube:2.8.1", "weaveworks/weave-npc:2.8.1"],
    "flannel": [],
}
ELSEWHERE = [
    "nginx:1.27",  # docker.io/library/nginx
    "docker.io/weaveworks/scope:1.13",  # a namespace we accept only two repositories of
    "registry.k8s.io/kube-apiserver:v1.35.4",  # registry.k8s.io: only the repositories we pull
    "quay.io/evil/cilium:1",
    "ghcr.io/flannel-io/not-flannel:1",
]


# --- the rendered policy -------------------------------------------------------------------------


def test_default_is_reject_and_only_the_docker_transport_is_opened() -> None:
    policy = policy_of(crio())
    assert schema_problems(policy) == []
    assert policy["default"] == [{"type": "reject"}]
    assert set(policy["transports"]) == {"docker"}
    assert sorted(policy["transports"]["docker"]) == [
        "ghcr.io/flannel-io/flannel",
        "ghcr.io/flannel-io/flannel-cni-plugin",
        "registry.k8s.io/coredns/coredns",
        "registry.k8s.io/pause",
    ]


@pytest.mark.parametrize("cni", sorted(UPSTREAM_IMAGES))
def test_every_image_the_cluster_pulls_is_accepted_and_nothing_else(cni: str) -> None:
    spec = crio(cni={"name": cni}, addons={"smokeTest": True})
    policy = policy_of(spec)
    assert schema_problems(policy) == []
    for image in [*images.stack_images(spec), *UPSTREAM_IMAGES[cni]]:
        assert accepted(policy, image), image
    for image in ELSEWHERE:
        assert not accepted(policy, image), image


def test_a_mirror_is_the_only_registry_accepted() -> None:
    mirror = "mirror.example:5000/k8s"
    spec = crio(images={"registry": mirror}, cni={"name": "cilium"})
    policy = policy_of(spec)
    assert schema_problems(policy) == []
    assert list(policy["transports"]["docker"]) == [mirror]
    for image in images.stack_images(spec):
        assert image.startswith(mirror + "/") and accepted(policy, image), image
    assert accepted(policy, f"{mirror}/cilium/cilium:v1.19.3")
    for image in [
        "registry.k8s.io/pause:3.10.1",
        "quay.io/cilium/cilium:v1.19.3",
        "mirror.example:5000/other/x:1",
    ]:
        assert not accepted(policy, image), image


def test_allowed_registries_open_what_workloads_need() -> None:
    scopes = ["quay.io/myorg", "docker.io/library", "registry.lan:5000", "*.internal.example"]
    policy = policy_of(crio(runtime={"crio": {"allowedRegistries": scopes}}))
    assert schema_problems(policy) == []
    for image in [
        "quay.io/myorg/app:1",
        "nginx:1.27",
        "registry.lan:5000/team/app:2",
        "r.internal.example/a:1",
    ]:
        assert accepted(policy, image), image
    assert not accepted(policy, "quay.io/other/app:1")


def test_the_schema_check_catches_what_containers_image_refuses_or_never_matches() -> None:
    accept = [{"type": "insecureAcceptAnything"}]
    assert schema_problems({"transports": {}}) == ["default: not a non-empty list of requirements"]
    assert schema_problems({"default": []})
    assert schema_problems({"default": accept, "transports": {"docker": {"quay.io/a:1.0": accept}}})
    assert schema_problems({"default": accept, "transports": {"docker": {"https://quay.io": accept}}})
    assert schema_problems({"default": accept, "transports": {"dockr": {}}})
    assert schema_problems({"default": [{"type": "reject", "extra": 1}]})


def test_crio_reads_our_policy_and_containerd_gets_none() -> None:
    spec = crio()
    assert rt.crio_config(spec)["crio"]["image"]["signature_policy"] == rt.CRIO_POLICY
    files = {f.meta.path: f.content for f in rt.runtime_files(spec)}
    assert json.loads(files[rt.CRIO_POLICY]) == policy_of(spec)
    containerd = rt.runtime_files(config_spec(TWO_NODES))
    assert rt.CRIO_POLICY not in {f.meta.path for f in containerd}


# --- containers/image itself (skopeo), against a fake registry ------------------------------------

CONFIG = json.dumps({"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}})
CONFIG_DIGEST = "sha256:" + hashlib.sha256(CONFIG.encode()).hexdigest()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": CONFIG_DIGEST,
            "size": len(CONFIG),
        },
        "layers": [],
    }
)


class _Registry(BaseHTTPRequestHandler):
    """Every repository holds one empty image under every tag: enough for a pull to reach the
    policy decision and, when accepted, to finish."""

    def do_GET(self) -> None:
        if self.path == "/v2/":
            body, kind = "{}", "application/json"
        elif "/manifests/" in self.path:
            body, kind = MANIFEST, "application/vnd.oci.image.manifest.v1+json"
        elif self.path.endswith("/blobs/" + CONFIG_DIGEST):
            body, kind = CONFIG, "application/octet-stream"
        else:
            self.send_error(404)
            return
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def pull(tmp_path: Path, policy: str, image: str, redirect: str) -> subprocess.CompletedProcess[str]:
    """skopeo copies docker://<image> under `policy`, every registry served by the fake one
    (registries.conf: the policy still judges the name as asked, as for CRI-O's pulls)."""
    skopeo = need("skopeo", "skopeo")
    (tmp_path / "policy.json").write_text(policy)
    hosts = {"registry.k8s.io", "ghcr.io", "quay.io", "docker.io", "registry.lan:5000"}
    conf = "".join(
        f'[[registry]]\nprefix = "{h}"\nlocation = "{redirect}"\ninsecure = true\n\n' for h in sorted(hosts)
    )
    (tmp_path / "registries.conf").write_text(conf)
    dest = tmp_path / "out" / hashlib.sha256(image.encode()).hexdigest()[:12]
    dest.parent.mkdir(exist_ok=True)
    args = [
        skopeo,
        "--policy",
        str(tmp_path / "policy.json"),
        "--registries-conf",
        str(tmp_path / "registries.conf"),
    ]
    args += ["copy", "--src-tls-verify=false", f"docker://{image}", f"dir:{dest}"]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)


@pytest.mark.realtool
def test_containers_image_accepts_our_images_and_rejects_the_rest(tmp_path: Path, registry: str) -> None:
    spec = crio(
        cni={"name": "calico"},
        addons={"smokeTest": True},
        runtime={"crio": {"allowedRegistries": ["registry.lan:5000/team"]}},
    )
    policy = rt.crio_policy(spec)
    for image in [*images.stack_images(spec), *UPSTREAM_IMAGES["calico"], "registry.lan:5000/team/app:1"]:
        result = pull(tmp_path, policy, image, registry)
        assert result.returncode == 0, f"{image}: {result.stderr}"
    for image in [*ELSEWHERE, "registry.lan:5000/other/app:1"]:
        result = pull(tmp_path, policy, image, registry)
        assert result.returncode != 0 and "rejected by policy" in result.stderr, f"{image}: {result.stderr}"


@pytest.mark.realtool
def test_containers_image_accepts_only_the_mirror(tmp_path: Path, registry: str) -> None:
    spec = crio(images={"registry": f"{registry}/k8s", "plainHttp": True})
    policy = rt.crio_policy(spec)
    for image in images.stack_images(spec):
        result = pull(tmp_path, policy, image, registry)
        assert result.returncode == 0, f"{image}: {result.stderr}"
    for image in ["registry.k8s.io/pause:3.10.1", f"{registry}/elsewhere/pause:3.10.1"]:
        result = pull(tmp_path, policy, image, registry)
        assert result.returncode != 0 and "rejected by policy" in result.stderr, f"{image}: {result.stderr}"
