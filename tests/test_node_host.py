"""A worker-only node as one NodeHost: what it renders, what it keeps in the state (no secret),
and what its provider runs where, in which order (SSH replaced by a recorder)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from components import node_host as nh
from components.ssh import Result
from mockrun.program import preset_config, run_preset
from render import csr_policy as cp
from render import kube_proxy as kp
from render import kubelet as kl
from render import node_admission as na
from render import scripts
from render.host_files import sha256
from render.node_parts import Contents, identities, node_parts
from spec import load_spec
from spec.node_host import ANY_NODE, NodeSettings, is_node_host, load_node, node_keys
from tests.support.fakes import CA_PEM, PROXY_KUBECONFIG
from tests.support.specs import PRESET_IDS, PRESETS, config_spec, stack_file

CONTENTS = Contents(sha256(CA_PEM), sha256(PROXY_KUBECONFIG))


def _settings(path: Any) -> tuple[Any, NodeSettings]:
    raw, secret = preset_config(path)
    spec, _ = load_spec(raw, "test", frozenset(secret))
    return spec, NodeSettings(spec, raw)


@pytest.mark.parametrize("preset", PRESETS, ids=PRESET_IDS)
def test_the_settings_render_every_worker_as_the_whole_spec_does(preset: Any) -> None:
    spec, settings = _settings(preset)
    workers = [n for n in spec.nodes if is_node_host(n)]
    for node in workers:
        small, own = load_node(settings.text(node), node.name)
        assert [n.name for n in small.nodes if is_node_host(n)] == [node.name]
        whole = node_parts(spec, node, f"c-{node.name}", CONTENTS)
        alone = node_parts(small, own, f"c-{node.name}", CONTENTS)
        assert [(p.name, p.create, p.delete, p.stdin) for p in whole] == [
            (p.name, p.create, p.delete, p.stdin) for p in alone
        ]


def test_settings_hold_no_secret_and_only_the_control_planes_and_the_node() -> None:
    spec, settings = _settings(stack_file("lab-ha"))
    worker = next(n for n in spec.nodes if is_node_host(n))
    text = settings.text(worker)
    assert "PRIVATE KEY" not in text and "privateKey" not in text
    names = [n["name"] for n in json.loads(text)["nodes"]]
    assert names == [*(n.name for n in spec.nodes if not is_node_host(n)), worker.name]


def _worker() -> tuple[Any, Any]:
    spec = config_spec(
        [
            {"name": "cp1", "address": "192.168.10.11", "roles": ["etcd", "control-plane"]},
            {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
        ]
    )
    return spec, spec.nodes[1]


def test_a_worker_has_its_parts_in_order_and_a_control_plane_is_refused() -> None:
    spec, w1 = _worker()
    assert [p.name for p in node_parts(spec, w1, "c-w1", CONTENTS)] == [
        "prepare",
        "binaries",
        "runtime",
        "kubelet",
        "kube-proxy",
    ]
    with pytest.raises(ValueError, match="not a worker-only node"):
        node_parts(spec, spec.nodes[0], "c-cp1", CONTENTS)


def test_a_new_token_changes_the_kubelet_text_but_not_its_identity() -> None:
    spec, w1 = _worker()
    hashes = identities(node_parts(spec, w1, "c-w1", CONTENTS))
    one, two = (
        Contents(CONTENTS.ca_sha256, CONTENTS.kube_proxy_sha256, CA_PEM, PROXY_KUBECONFIG, f"token {i}")
        for i in (1, 2)
    )
    first, second = node_parts(spec, w1, "c-w1", one), node_parts(spec, w1, "c-w1", two)
    assert identities(first) == identities(second) == hashes
    kubelet = {p.name: p for p in first}["kubelet"]
    assert kubelet.create != {p.name: p for p in second}["kubelet"].create
    assert f"sha256:{sha256('token 1')}" in kubelet.create  # installed, listed with its hash
    # The token is installed but never guarded: it is gone once kubelet has joined.
    assert kl.BOOTSTRAP_KUBECONFIG not in [f.meta.path for f in kubelet.guarded()]
    assert base64.b64encode(b"token 1").decode() in (kubelet.bundle() or "")


def test_a_changed_ca_or_kube_proxy_credential_changes_exactly_its_parts() -> None:
    spec, w1 = _worker()
    base = dict(
        zip(
            ["prepare", "binaries", "runtime", "kubelet", "kube-proxy"],
            identities(node_parts(spec, w1, "c", CONTENTS)),
            strict=True,
        )
    )
    ca = dict(
        p.split(":", 1)
        for p in identities(node_parts(spec, w1, "c", Contents(sha256("other"), CONTENTS.kube_proxy_sha256)))
    )
    proxy = dict(
        p.split(":", 1)
        for p in identities(node_parts(spec, w1, "c", Contents(CONTENTS.ca_sha256, sha256("other"))))
    )
    base = {k: v.split(":", 1)[1] for k, v in base.items()}
    assert [k for k in base if base[k] != ca[k]] == ["kubelet"]
    assert [k for k in base if base[k] != proxy[k]] == ["kube-proxy"]


def test_a_content_that_is_not_what_the_program_hashed_is_refused() -> None:
    spec, w1 = _worker()
    wrong = Contents(CONTENTS.ca_sha256, CONTENTS.kube_proxy_sha256, "another CA", PROXY_KUBECONFIG)
    with pytest.raises(ValueError, match="does not have the sha256"):
        node_parts(spec, w1, "c-w1", wrong)


def test_without_kube_proxy_there_is_no_kube_proxy_part() -> None:
    spec = config_spec(
        [
            {"name": "cp1", "address": "192.168.10.11", "roles": ["etcd", "control-plane"]},
            {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
        ],
        cni={"name": "cilium", "kubeProxyReplacement": True},
        kubeProxy={"mode": "disabled"},
    )
    parts = node_parts(spec, spec.nodes[1], "c-w1", Contents(CONTENTS.ca_sha256, None))
    assert "kube-proxy" not in [p.name for p in parts]


def test_a_token_is_made_from_the_bootstrap_alphabet_and_expires_in_a_day() -> None:
    token = na.new_token(1_700_000_000)
    assert len(token.token_id) == 6 and len(token.secret) == 16
    assert (token.token_id + token.secret).isalnum() and (token.token_id + token.secret).islower()
    assert token.expiration == "2023-11-15T22:13:20Z"
    assert na.new_token(1_700_000_000).value != token.value


def test_admission_sends_the_token_on_stdin_only_and_names_it_in_the_allow_list() -> None:
    _, w1 = _worker()
    token = na.Token("abcdef", "0123456789abcdef", "2030-01-01T00:00:00Z")
    secret, allow = na.issue(w1, token)
    assert token.secret not in secret.command + allow.command
    assert json.loads(secret.stdin)["stringData"]["token-secret"] == token.secret
    assert json.loads(secret.stdin)["type"] == "bootstrap.kubernetes.io/token"
    assert "abcdef" in json.loads(allow.stdin)["data"][cp.ALLOW_KEY]
    assert all(cp.APPROVER_KUBECONFIG in r.command for r in (secret, allow))
    assert na.forget(w1)[0].command == cp.forget_node_command(w1)


def test_node_keys_come_from_the_configuration_with_per_node_overrides_and_bastions() -> None:
    ssh = json.dumps({"privateKey": "KEY-ALL", "bastion": {"host": "b.example", "privateKey": "KEY-B"}})
    nodes = json.dumps(
        [
            {"name": "cp1", "address": "10.0.0.1", "roles": ["etcd", "control-plane"]},
            {"name": "w1", "address": "10.0.0.2", "roles": ["worker"], "ssh": {"privateKey": "KEY-W1"}},
        ]
    )
    assert node_keys(ssh, nodes) == {
        ANY_NODE: ("KEY-ALL", "KEY-B"),
        "cp1": ("KEY-ALL", "KEY-B"),
        "w1": ("KEY-W1", "KEY-B"),
    }
    assert node_keys(None, None) == {}


# --- the provider, with SSH recorded ---


class Hosts:
    """Every command the provider runs, by host; answers the probes like a fresh node would."""

    def __init__(self, joined: bool = False) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.keys: set[str] = set()  # the private keys the commands were run with
        self.joined = joined
        self.kube_proxy = PROXY_KUBECONFIG

    def run(self, target: Any, command: str, stdin: str = "", *_: Any) -> Result:
        self.calls.append((target.host, command, stdin))
        self.keys.add(target.private_key)
        if command == na.joined_probe():
            return Result(0, na.JOINED if self.joined else "new", "")
        if command == na.kube_proxy_kubeconfig():
            return Result(0, self.kube_proxy, "")
        return Result(0, "", "")

    def run_checked(self, target: Any, command: str, stdin: str = "", what: str = "") -> Result:
        return self.run(target, command, stdin)

    # Stands in for components.ssh.Sessions: `with Sessions(...) as ssh` is this recorder.
    def __call__(self, *_: Any) -> Hosts:
        return self

    def __enter__(self) -> Hosts:
        return self

    def __exit__(self, *_: object) -> None:
        pass

    def on(self, host: str) -> list[str]:
        return [c for h, c, _ in self.calls if h == host]


def _props() -> dict[str, Any]:
    raw = {
        "ssh": {"privateKey": "KEY"},
        "nodes": [
            {"name": "cp1", "address": "192.168.10.11", "roles": ["etcd", "control-plane"]},
            {"name": "w1", "address": "192.168.10.21", "roles": ["worker"]},
        ],
    }
    spec, _ = load_spec(raw, "test", frozenset({"ssh"}))
    settings = NodeSettings(spec, raw).text(spec.nodes[1])
    small, own = load_node(settings, "w1")
    return {
        "name": "test-w1",
        "node": "w1",
        "host": own.address,
        "port": 22,
        "user": "root",
        "host_key": None,
        "proxy": None,
        "settings": settings,
        "parts": identities(node_parts(small, own, "test-w1", CONTENTS)),
        "approver": {
            "node": "cp1",
            "host": "192.168.10.11",
            "port": 22,
            "user": "root",
            "host_key": None,
            "proxy": None,
        },
        "ca": CA_PEM,
        "ca_sha256": CONTENTS.ca_sha256,
        "kube_proxy_sha256": CONTENTS.kube_proxy_sha256,
        "lib": nh.library_digest(scripts.library()),
    }


@pytest.fixture()
def provider(monkeypatch: pytest.MonkeyPatch) -> tuple[nh.NodeHostProvider, Hosts]:
    hosts = Hosts()
    monkeypatch.setattr(nh, "Sessions", hosts)
    monkeypatch.setattr(nh.host_lib, "install_on", lambda _ssh, target, *_: hosts.run(target, "install-lib"))
    p = nh.NodeHostProvider()
    p.keys = {"cp1": ("KEY", None), "w1": ("KEY", None)}
    return p, hosts


def test_create_admits_a_new_node_then_runs_its_parts_then_waits_for_its_join(provider: Any) -> None:
    p, hosts = provider
    result = p.create(_props())
    node, approver = hosts.on("192.168.10.21"), hosts.on("192.168.10.11")
    assert node[:2] == ["install-lib", na.joined_probe()]
    assert len(node) == 2 + 5  # the five parts, in order
    assert "test-w1-prepare" in node[2] and "test-w1-kube-proxy" in node[6]
    assert approver[0].endswith("create -f -") and approver[1].endswith("apply -f -")
    assert approver[2] == na.kube_proxy_kubeconfig()
    assert approver[-1] == cp.until_serving_command(load_node(_props()["settings"], "w1")[1])
    # The token went to the API on stdin and to the node in the kubelet part's bundle, and only
    # its id is kept.
    token_secret = json.loads(hosts.calls[[c for _, c, _ in hosts.calls].index(approver[0])][2])["stringData"]
    assert result.outs[nh.TOKEN_ID] == token_secret["token-id"]
    assert token_secret["token-secret"] not in json.dumps(result.outs)
    assert "PRIVATE KEY" not in json.dumps(result.outs) and "KEY" not in json.dumps(result.outs["settings"])


def test_create_on_a_joined_node_makes_no_token(provider: Any) -> None:
    p, hosts = provider
    hosts.joined = True
    result = p.create(_props())
    assert nh.TOKEN_ID not in result.outs
    assert [c for c in hosts.on("192.168.10.11")] == [na.kube_proxy_kubeconfig()]


def test_update_runs_only_the_changed_part(provider: Any) -> None:
    """A renewed kube-proxy certificate: only the kube-proxy part runs again, with the new text."""
    p, hosts = provider
    hosts.joined = True
    olds = {**_props(), nh.DRIFT: []}
    hosts.kube_proxy = "kind: Config\n# renewed\n"
    small, own = load_node(olds["settings"], "w1")
    renewed = Contents(CONTENTS.ca_sha256, sha256(hosts.kube_proxy))
    news = {**_props(), "kube_proxy_sha256": renewed.kube_proxy_sha256}
    news["parts"] = identities(node_parts(small, own, "test-w1", renewed))
    assert p.diff("id", olds, news).changes
    p.update("id", olds, news)
    ran = [c for c in hosts.on("192.168.10.21") if "# --- part" in c]
    assert len(ran) == 1 and "test-w1-kube-proxy" in ran[0]
    assert base64.b64encode(hosts.kube_proxy.encode()).decode() in hosts.calls[-1][2]


def test_update_refuses_parts_it_does_not_render_and_diff_follows_the_inputs(provider: Any) -> None:
    p, hosts = provider
    hosts.joined = True
    olds = {**_props(), nh.DRIFT: []}
    news = _props()
    news["parts"] = [*news["parts"][:4], "kube-proxy:" + "0" * 64]
    with pytest.raises(ValueError, match="other parts than the program did"):
        p.update("id", olds, news)
    news = _props()
    assert not p.diff("id", olds, news).changes
    news["lib"] = "another library"
    assert p.diff("id", olds, news).changes


def test_a_drifted_part_runs_again_and_its_service_restarts(provider: Any) -> None:
    p, hosts = provider
    hosts.joined = True
    line = f"kubelet\tfile {kl.CONFIG}: expected sha256:aa, found sha256:bb"
    olds = {**_props(), nh.DRIFT: [line]}
    assert p.diff("id", olds, _props()).changes
    p.update("id", olds, _props())
    node = hosts.on("192.168.10.21")
    assert sum("test-w1-kubelet" in c for c in node) == 1
    assert not any("test-w1-kube-proxy" in c for c in node)
    assert node[-1].endswith(f"systemctl restart {kl.UNIT}\n")


def test_delete_forgets_the_node_then_undoes_its_parts_in_reverse(provider: Any) -> None:
    p, hosts = provider
    p.delete("id", _props())
    approver, node = hosts.on("192.168.10.11"), hosts.on("192.168.10.21")
    assert approver[0] == cp.forget_node_command(load_node(_props()["settings"], "w1")[1])
    assert "delete configmap" in approver[1]
    order = [
        name
        for c in node
        for name in ("kube-proxy", "kubelet", "runtime", "binaries", "prepare")
        if f"test-w1-{name}'" in c
    ]
    assert order == ["kube-proxy", "kubelet", "runtime", "binaries", "prepare"]
    assert "rm -rf" in node[-1]


def test_a_node_removed_from_the_configuration_is_deleted_with_the_top_level_key(provider: Any) -> None:
    p, hosts = provider
    ssh = json.dumps({"privateKey": "KEY-ALL"})
    nodes = json.dumps([{"name": "cp1", "address": "192.168.10.11", "roles": ["etcd", "control-plane"]}])
    p.keys = node_keys(ssh, nodes)  # w1 is no longer in `nodes`
    p.delete("id", _props())
    assert hosts.on("192.168.10.21") and hosts.on("192.168.10.11")
    assert hosts.keys == {"KEY-ALL"}


def test_a_node_without_a_key_is_named(provider: Any) -> None:
    p, _ = provider
    p.keys = {}
    with pytest.raises(Exception, match="no SSH private key for node w1"):
        p.create(_props())


def test_kube_proxy_credential_copied_from_the_control_plane_is_checked(provider: Any) -> None:
    p, hosts = provider
    hosts.joined = True
    hosts.kube_proxy = "not the kubeconfig the program hashed"
    with pytest.raises(ValueError, match=kp.KUBECONFIG):
        p.create(_props())


# --- the program's graph (mocks) ---

NODE_HOST = "pulumi-python:dynamic/k8sfs:NodeHost"


@pytest.mark.parametrize("preset", ["ha-calico", "dev"])
def test_a_node_host_keeps_no_secret_and_waits_for_its_admission(preset: str) -> None:
    graph = run_preset(stack_file(preset))
    node_hosts = graph.of_type(NODE_HOST)
    assert node_hosts
    by_name = {r.name: r for r in graph.registrations}
    for r in node_hosts:
        # Only a lab's own SSH key (the lab makes it) is an input; a stack's comes from its config.
        assert r.secret_paths <= ({"private_key"} if preset == "dev" else set()), r.secret_paths
        assert "private_key" not in r.inputs or preset == "dev"
        assert "PRIVATE KEY" not in json.dumps({k: v for k, v in r.inputs.items() if k != "private_key"})
        assert [p.split(":")[0] for p in r.inputs["parts"]] == [
            "prepare",
            "binaries",
            "runtime",
            "kubelet",
            "kube-proxy",
        ][: len(r.inputs["parts"])]
        deps = {d.rsplit("::", 1)[-1] for d in r.dependencies}
        approver = r.inputs["approver"]["node"]
        cluster = r.name.removesuffix(f"-{r.inputs['node']}")
        # The approver's timer (its RBAC and allow-list namespace before it), and kube-proxy's
        # kubeconfig on the approver's host to copy.
        assert f"{cluster}-{approver}-csr-approver-timer" in deps, deps
        assert f"{cluster}-{approver}-node-kube-proxy" in deps or f"{cluster}-{approver}-node-kubelet" in deps
        # The Bootstrap objects (RBAC, the allow lists' namespace) come before the approver's timer.
        timer = by_name[f"{cluster}-{approver}-csr-approver-timer"]
        timer_deps = {d.rsplit("::", 1)[-1] for d in timer.dependencies}
        assert any(d.startswith(f"{cluster}-bootstrap-rolebinding-csr-approver-tokens") for d in timer_deps)
        # The CNI waits for the control planes' join, not for any worker-only node: one that is
        # added later leaves the CNI's objects as they are (components/cluster.py).
        cni = by_name[f"{cluster}-cni"].dependencies
        assert any(d.endswith("-serving") for d in cni) and r.urn not in cni, cni


def test_hundreds_of_dynamic_resources_serialize_without_deepening_the_pickler() -> None:
    """The SDK wraps the pickler's setitems once more for every dynamic resource (components/
    pickling.py): ours reset it, so the 1000th serializes as the first did."""
    import pickle

    from pulumi.dynamic.dynamic import serialize_provider

    from components.pickling import fresh_pickler

    fresh_pickler()
    original = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]
    for _ in range(3):
        serialize_provider(nh.NodeHostProvider())
    assert pickle._Pickler._batch_setitems is not original  # type: ignore[attr-defined]  # the SDK's leak
    fresh_pickler()
    assert pickle._Pickler._batch_setitems is original  # type: ignore[attr-defined]
    for _ in range(1000):
        fresh_pickler()
        serialize_provider(nh.NodeHostProvider())


def test_a_state_another_version_made_is_read_and_deleted_without_refusal(provider: Any) -> None:
    """After the program is upgraded, before `up`: a refresh probes only what this version
    renders as recorded, and a destroy still runs every part's delete."""
    p, hosts = provider
    older = {**_props(), "lib": "the library of another version"}
    older["parts"] = [*older["parts"][:3], "kubelet:" + "0" * 64, older["parts"][4]]
    found = p.read("id", older).outs[nh.DRIFT]
    probed = hosts.on("192.168.10.21")[0]
    assert kl.CONFIG not in probed and kp.CONFIG in probed  # kubelet's part is not this version's
    assert scripts.LIB_DIR not in probed
    assert not any(line.startswith("kubelet\t") for line in found)
    hosts.calls.clear()
    p.delete("id", older)
    node = hosts.on("192.168.10.21")
    assert sum("test-w1-kubelet'" in c for c in node) == 1


def test_a_library_the_provider_does_not_render_is_refused_before_anything_runs(provider: Any) -> None:
    p, hosts = provider
    with pytest.raises(ValueError, match="script library is not the program's"):
        p.create({**_props(), "lib": "the library of another version"})
    assert hosts.calls == []
