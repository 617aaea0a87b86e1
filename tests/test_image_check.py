"""The image check (render/image_check.py): URLs the registries are asked at, and the real script
against a real HTTP registry stand-in that knows some images and not others."""

from __future__ import annotations

import http.server
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from render import image_check
from render.scripts import inline
from spec.model import ClusterSpec
from tests.support.specs import ONE_NODE, config_spec, preset_spec, stack_file


@pytest.mark.parametrize(
    ("image", "plain", "url"),
    [
        ("registry.k8s.io/pause:3.10.1", False, "https://registry.k8s.io/v2/pause/manifests/3.10.1"),
        (
            "10.0.0.1:5000/coredns/coredns:v1.15.0",
            True,
            "http://10.0.0.1:5000/v2/coredns/coredns/manifests/v1.15.0",
        ),
        ("busybox", False, "https://registry-1.docker.io/v2/library/busybox/manifests/latest"),
        (
            "weaveworks/weave-kube:2.8.1",
            False,
            "https://registry-1.docker.io/v2/weaveworks/weave-kube/manifests/2.8.1",
        ),
        ("quay.io/a/b@sha256:00ff", False, "https://quay.io/v2/a/b/manifests/sha256:00ff"),
    ],
)
def test_manifest_urls_are_the_registry_api_ones(image: str, plain: bool, url: str) -> None:
    assert image_check.manifest_url(spec_pulling_from("10.0.0.1:5000", plain), image) == url


def spec_pulling_from(registry: str, plain_http: bool) -> ClusterSpec:
    return config_spec(ONE_NODE, images={"registry": registry, "plainHttp": plain_http})


def test_plain_http_applies_to_the_named_registry_only() -> None:
    spec = spec_pulling_from("10.0.0.1:5000", True)
    assert image_check.manifest_url(spec, "registry.k8s.io/pause:3.10.1").startswith("https://")
    lines = image_check.check_input(spec).splitlines()
    assert lines[0] == "10.0.0.1:5000/pause:3.10.1 http://10.0.0.1:5000/v2/pause/manifests/3.10.1"
    assert all(line.split()[1].startswith("http://10.0.0.1:5000/v2/") for line in lines)


class Registry(http.server.BaseHTTPRequestHandler):
    have = {"/v2/pause/manifests/3.10.1"}

    def do_HEAD(self) -> None:
        if self.path.startswith("/v2/private/"):
            self.send_response(401)
        else:
            self.send_response(200 if self.path in self.have else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_port}"
    server.shutdown()


def run_check(tmp_path: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "check.sh"
    script.write_text(inline(image_check.check_script("node-a")))
    return subprocess.run(["sh", str(script)], input=stdin, capture_output=True, text=True, timeout=60)


@pytest.mark.realtool
def test_a_missing_image_fails_the_check_naming_it_and_its_url(registry: str, tmp_path: Path) -> None:
    ok = f"{registry}/pause:3.10.1"
    gone = f"{registry}/coredns/coredns:v1.15.0"
    private = f"{registry}/private/x:1"
    plain = spec_pulling_from(registry, True)
    lines = "".join(f"{i} {image_check.manifest_url(plain, i)}\n" for i in (ok, gone, private))
    result = run_check(tmp_path, lines)
    assert result.returncode == 1
    assert f"ok: {ok}" in result.stdout
    assert f"not checked: {private}" in result.stdout and "credentials" in result.stdout
    assert (
        f"MISSING: {gone}: http://{registry}/v2/coredns/coredns/manifests/v1.15.0 answered 404"
        in result.stderr
    )
    assert "1 image(s) are not in the registry" in result.stderr


@pytest.mark.realtool
def test_every_image_present_passes_and_an_unreachable_registry_is_only_reported(
    registry: str, tmp_path: Path
) -> None:
    ok = f"{registry}/pause:3.10.1"
    far = "127.0.0.1:9/pause:3.10.1"  # discard port: nothing listens
    urls = [image_check.manifest_url(spec_pulling_from(i.split("/")[0], True), i) for i in (ok, far)]
    lines = "".join(f"{i} {url}\n" for i, url in zip((ok, far), urls, strict=True))
    result = run_check(tmp_path, lines)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"ok: {ok}",
        f"not checked: {far} (http://127.0.0.1:9/v2/pause/manifests/3.10.1 cannot be reached from node-a)",
    ]


@pytest.mark.realtool
def test_the_check_script_passes_shellcheck(tmp_path: Path) -> None:
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (apt-get install shellcheck)")
    script = tmp_path / "check.sh"
    script.write_text(inline(image_check.check_script("node-a")))
    result = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


def test_the_check_runs_on_the_first_kubelet_node_before_any_cni_or_addon_object() -> None:
    from mockrun.program import run_preset

    spec = preset_spec("s3-raspberrypi-crio-flannel")
    graph = run_preset(stack_file("s3-raspberrypi-crio-flannel"))
    first = spec.kubelet_nodes[0]
    check = graph.named(f"{spec.cluster_name}-{first.name}-image-check")
    assert check.inputs["connection"]["host"] == first.address
    assert check.inputs["stdin"] == image_check.check_input(spec)
    assert check.inputs["create"] == image_check.check_script(first.name)
    daemonset = graph.named(f"{spec.cluster_name}-cni-daemonset-kube-flannel-ds")
    assert check.urn in daemonset.dependencies
