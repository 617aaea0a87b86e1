"""The bench's pure parts (critical path, input diffing, stack configs) and a small real run."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bench import engine, fake_kubelet, fake_site, proctree
from bench import run as bench_run
from bench.critical_path import HOST_STEP, critical_path
from bench.graph_diff import blast_radius, canonical, diff_graphs, owned_by
from bench.stacks import bench_config, with_labels_changed, with_worker_added
from mockrun import mocks
from mockrun.program import run_program
from render import node_admission
from spec import load_spec
from tests.support.bench import mocks_size


@dataclass
class Reg:
    name: str
    type: str = HOST_STEP
    inputs: dict[str, Any] = field(default_factory=dict)
    dependencies: list[str] = field(default_factory=list)
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)
    provider: str = ""

    @property
    def urn(self) -> str:
        return f"urn:pulumi:s::p::{self.type}::{self.name}"


def urn(name: str, type_: str = HOST_STEP) -> str:
    return Reg(name, type_).urn


# --- critical path ------------------------------------------------------------------------------


def test_critical_path_counts_host_steps_through_other_resources_and_providers() -> None:
    provider_type = "pulumi:providers:kubernetes"
    regs = [
        Reg("lab-host", "command:local:Command"),
        Reg("cp-a", dependencies=[urn("lab-host", "command:local:Command")]),
        Reg("cp-b", dependencies=[urn("cp-a")]),
        Reg("cp-c", property_dependencies={"create": [urn("cp-b")]}),
        Reg("k8s", provider_type, dependencies=[urn("cp-c")]),
        # Only the provider reference orders the Secret after the API servers.
        Reg("token", "kubernetes:core/v1:Secret", provider=f"{urn('k8s', provider_type)}::k8s-id"),
        Reg("w1-a"),
        Reg("w1-kubelet", dependencies=[urn("w1-a"), urn("token", "kubernetes:core/v1:Secret")]),
        Reg("w1-other", dependencies=[urn("w1-a")]),
    ]
    chain = critical_path(regs, lambda r: r.type == HOST_STEP and owned_by(r.name, "w1"))
    assert chain == ["cp-a", "cp-b", "cp-c", "w1-kubelet"]


def test_critical_path_ties_go_to_the_first_registered_and_no_end_is_empty() -> None:
    regs = [Reg("a"), Reg("b"), Reg("end", dependencies=[urn("b"), urn("a")])]
    assert critical_path(regs, lambda r: r.name == "end") == ["a", "end"]
    assert critical_path(regs, lambda r: False) == []


# --- diffs ----------------------------------------------------------------------------------------


def test_canonical_ignores_map_key_order_but_not_list_order() -> None:
    assert canonical({"a": 1, "b": [1, 2]}) == canonical({"b": [1, 2], "a": 1})
    assert canonical({"b": [1, 2]}) != canonical({"b": [2, 1]})


def test_diff_finds_changed_added_and_removed_by_urn() -> None:
    before = [Reg("same", inputs={"x": 1}), Reg("changed", inputs={"l": [1, 2]}), Reg("gone")]
    after = [Reg("same", inputs={"x": 1}), Reg("changed", inputs={"l": [2, 1]}), Reg("new")]
    diff = diff_graphs(before, after)
    assert (diff.changed, diff.added, diff.removed, diff.count) == (["changed"], ["new"], ["gone"], 3)


def test_owned_by_matches_whole_dash_separated_parts() -> None:
    assert owned_by("bench-host-w1-preflight", "w1")
    assert owned_by("bench-cp1-csr-approver-allow-w1", "w1")
    assert owned_by("w1", "w1")
    assert not owned_by("bench-host-w10-preflight", "w1")
    assert not owned_by("bench-host-aw1-x", "w1")


def test_blast_radius_separates_the_nodes_own_resources() -> None:
    before = [Reg("cp1-allow-list", inputs={"nodes": ["w1"]})]
    after = [Reg("cp1-allow-list", inputs={"nodes": ["w1", "w2"]}), Reg("host-w2-a"), Reg("stray")]
    radius = blast_radius(before, after, "w2")
    assert radius["count"] == 2
    assert radius["changed"] == ["cp1-allow-list"] and radius["added"] == ["stray"]
    assert radius["own"] == {"changed": 0, "added": 1, "removed": 0}


# --- stacks ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("nodes", [1, 10, 500])
def test_bench_stacks_validate_with_the_asked_node_count(nodes: int) -> None:
    raw, secret = bench_config(nodes)
    spec, warnings = load_spec(raw, "bench", frozenset(secret))
    assert len(spec.nodes) == nodes and not warnings
    assert len(spec.etcd_nodes) == len(spec.control_plane_nodes) == min(3, nodes)
    assert spec.nodes[0].ssh.private_key is not None


def test_adding_a_worker_and_relabelling_change_only_that_node() -> None:
    raw, _ = bench_config(10)
    added, name = with_worker_added(raw)
    assert raw["nodes"] == added["nodes"][:-1] and added["nodes"][-1]["name"] == name
    assert name not in {n["name"] for n in raw["nodes"]}
    relabelled, node = with_labels_changed(raw)
    changed = [new for old, new in zip(raw["nodes"], relabelled["nodes"], strict=True) if old != new]
    assert [n["name"] for n in changed] == [node]


# --- memoising mocks and a small real run ---------------------------------------------------------


def test_two_evaluations_differ_without_memo_and_not_with_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The nondeterminism check can fail: the mocks' fresh keys show up as differences."""
    raw, secret = bench_config(1)
    monkeypatch.setattr(mocks, "MEMO_ENABLED", False)
    fresh = diff_graphs(
        run_program(raw, "bench", secret).registrations, run_program(raw, "bench", secret).registrations
    )
    assert any("pki" in name for name in fresh.changed), "fresh keys/certs must differ"
    monkeypatch.setattr(mocks, "MEMO_ENABLED", True)
    first = run_program(raw, "bench", secret).registrations
    assert diff_graphs(first, run_program(raw, "bench", secret).registrations).count == 0


def test_graph_checks_on_a_small_stack(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(mocks, "MEMO_ENABLED", True)
    checks = bench_run.graph_checks(4, presets=False)
    assert checks["blast_radius_add_worker"]["count"] == 0, checks["blast_radius_add_worker"]
    # Adding a worker adds exactly what an existing worker owns.
    assert checks["blast_radius_add_worker"]["own"]["added"] == checks["worker_resources"]["count"] > 0
    assert checks["blast_radius_change_labels"]["count"] == 0, checks["blast_radius_change_labels"]
    assert checks["blast_radius_change_labels"]["own"]["changed"] > 0
    assert checks["nondeterministic_resources"] == {"bench-4": []}
    chain = checks["critical_path_steps"]["chain"]
    assert chain[0].startswith("bench-host-cp") and chain[-1] == "bench-w1"
    assert any("apiserver" in step for step in chain) and checks["critical_path_steps"]["steps"] == len(chain)


def test_each_size_is_measured_repeatedly_and_the_median_run_stands_for_it() -> None:
    (one,) = bench_run.measure_sizes([1], repeat=3)
    runs = one["runs_seconds"]
    assert len(runs) == 3 and runs == sorted(runs)
    assert one["seconds"] == runs[1] and one["nodes"] == 1 and one["resources"] > 0
    summary = bench_run.summarise([one], {}, {"skipped": "test"})
    assert summary["eval_seconds_runs_by_nodes"] == {"1": runs}


# --- the real engine: project files, the engine's output, memory, fakes (bench/engine.py) ---------

URN_PREFIX = "urn:pulumi:bench::k8s-from-scratch::k8s-from-scratch:index:Cluster$"


def step_urn(name: str, type_: str = HOST_STEP) -> str:
    return f"{URN_PREFIX}{type_}::{name}"


def test_the_engine_project_runs_the_repositorys_program_with_its_venv(tmp_path: Path) -> None:
    import yaml

    project = yaml.safe_load(engine.project_file(bench_run.REPO, tmp_path))
    assert project["name"] == "k8s-from-scratch" and project["runtime"]["name"] == "python"
    assert (tmp_path / project["main"]).resolve() == bench_run.REPO.resolve()
    assert project["runtime"]["options"]["virtualenv"] == str(bench_run.REPO / ".venv")


def test_the_stack_file_holds_the_bench_config_and_the_encrypted_key() -> None:
    import yaml

    raw, _ = bench_config(4)
    salt = "encryptionsalt: v1:abc"
    text = engine.stack_file(raw, salt, "v1:ciphertext")
    assert engine.stack_salt(text) == salt
    assert engine.secure_value(text, "ssh.privateKey") == "v1:ciphertext"
    config = yaml.safe_load(text)["config"]
    assert config["k8s-from-scratch:nodes"] == raw["nodes"]
    assert config["k8s-from-scratch:ssh"] == {"user": "root", "privateKey": {"secure": "v1:ciphertext"}}
    assert raw["ssh"]["privateKey"] not in text  # the placeholder key never reaches the file
    added, name = with_worker_added(raw)
    again = yaml.safe_load(engine.stack_file(added, salt, "v1:ciphertext"))["config"]
    assert again["k8s-from-scratch:nodes"][-1]["name"] == name
    assert {k: v for k, v in again.items() if not k.endswith(":nodes")} == {
        k: v for k, v in config.items() if not k.endswith(":nodes")
    }
    with pytest.raises(engine.EngineError):
        engine.secure_value(text, "ssh.user")


def test_update_events_give_each_resources_step_and_the_summary() -> None:
    lines = [
        '{"sequence": 0, "preludeEvent": {"config": {}}}',
        "warning: not an event",
        json.dumps(
            {"resOutputsEvent": {"metadata": {"op": "same", "urn": step_urn("bench-host-w1-prepare")}}}
        ),
        json.dumps(
            {"resOutputsEvent": {"metadata": {"op": "create", "urn": step_urn("bench-host-w2-prepare")}}}
        ),
        json.dumps(
            {"resOpFailedEvent": {"metadata": {"op": "update", "urn": step_urn("bench-join-w2-serving")}}}
        ),
        json.dumps({"diagnosticEvent": {"severity": "error", "message": "boom\n"}}),
        json.dumps({"diagnosticEvent": {"severity": "info", "message": "fine"}}),
        json.dumps({"summaryEvent": {"durationSeconds": 7, "resourceChanges": {"same": 1, "create": 1}}}),
        '{"resOutputsEvent": {"metadata": {"op": "cre',  # cut short while the engine writes
    ]
    events = engine.engine_events("\n".join(lines))
    steps = engine.update_steps(events)
    assert [(s.op, s.name) for s in steps] == [
        ("same", "bench-host-w1-prepare"),
        ("create", "bench-host-w2-prepare"),
        ("failed", "bench-join-w2-serving"),
    ]
    assert steps[0].type == HOST_STEP
    assert engine.summary_event(events)["durationSeconds"] == 7
    assert engine.error_messages(events) == ["boom"]
    assert [s.name for s in engine.changes(steps)] == ["bench-host-w2-prepare", "bench-join-w2-serving"]
    assert engine.op_counts(steps) == {"create": 1, "failed": 1, "same": 1}


def test_preview_steps_come_from_the_one_json_document() -> None:
    doc = {"steps": [{"op": "create", "urn": step_urn("a")}, {"op": "create", "urn": step_urn("b")}]}
    assert [s.name for s in engine.preview_steps(doc)] == ["a", "b"]
    assert engine.preview_steps({}) == []
    stack = engine.Step(
        "same", "urn:pulumi:bench::k8s-from-scratch::pulumi:pulumi:Stack::k8s-from-scratch-bench"
    )
    assert stack.type == "pulumi:pulumi:Stack" and stack.name == "k8s-from-scratch-bench"


def test_adding_a_worker_is_classified_by_whose_resources_changed() -> None:
    own = [engine.Step("create", step_urn(f"bench-host-w8-{p}")) for p in ("prepare", "binaries")]
    same = [engine.Step("same", step_urn(n)) for n in ("bench-host-w1-prepare", "bench-host-w80-prepare")]
    clean = engine.classify_add_worker([*own, *same], "w8")
    assert clean == {"node": "w8", "own": {"create": 2}, "others": [], "only_that_worker": True}
    touched = engine.classify_add_worker(
        [*own, *same, engine.Step("update", step_urn("bench-cp1-csr-approver-files"))], "w8"
    )
    assert touched["others"] == ["update bench-cp1-csr-approver-files"]
    assert not touched["only_that_worker"]
    # A worker whose name merely contains w8's is someone else.
    other = engine.classify_add_worker(
        [*own, engine.Step("update", step_urn("bench-host-w80-prepare"))], "w8"
    )
    assert other["others"] == ["update bench-host-w80-prepare"] and not other["only_that_worker"]
    # Its own resources replaced rather than created: not a clean add.
    assert not engine.classify_add_worker([engine.Step("replace", own[0].urn)], "w8")["only_that_worker"]
    assert not engine.classify_add_worker(same, "w8")["only_that_worker"]  # nothing added at all


def _export(*resources: dict[str, Any]) -> dict[str, Any]:
    return {"version": 3, "deployment": {"resources": list(resources)}}


def _secret(value: str) -> dict[str, str]:
    return {engine.SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "plaintext": json.dumps(value)}


def test_the_fake_api_server_gets_the_stacks_own_pki_from_the_state() -> None:
    def res(name: str, **outputs: Any) -> dict[str, Any]:
        return {"urn": step_urn(name, "tls:index/x:X"), "type": "tls:index/x:X", "outputs": outputs}

    export = _export(
        res("bench-pki-apiserver-cert", certPem="API", caCertPem="CA"),
        res("bench-pki-apiserver-key", privateKeyPem=_secret("API-KEY")),
        res("bench-pki-apiserver-kubelet-client-cert", certPem="OTHER"),
        res("bench-pki-service-account-key", privateKeyPem=_secret("SA-KEY"), publicKeyPem="SA-PUB"),
        res("bench-pki-admin-cert", certPem="RBAC-ADMIN"),
        res("bench-pki-admin-key", privateKeyPem=_secret("RBAC-ADMIN-KEY")),
        res("bench-pki-super-admin-cert", certPem="ADMIN"),
        res("bench-pki-super-admin-key", privateKeyPem=_secret("ADMIN-KEY")),
    )
    assert engine.cluster_pki(export) == {
        "ca": "CA",
        "apiserver_cert": "API",
        "apiserver_key": "API-KEY",
        "sa_key": "SA-KEY",
        "sa_pub": "SA-PUB",
        "admin_cert": "ADMIN",
        "admin_key": "ADMIN-KEY",
    }
    with pytest.raises(engine.EngineError, match="0 resources"):
        engine.named_outputs(export, "-pki-etcd-ca-cert")


def test_state_figures_name_the_largest_resources_and_types() -> None:
    export = _export(
        {"urn": step_urn("small"), "type": HOST_STEP, "inputs": {"x": "a"}},
        {"urn": step_urn("big", "k8sfs:DriftGuard"), "type": "k8sfs:DriftGuard", "inputs": {"x": "a" * 500}},
        {"urn": step_urn("middle"), "type": HOST_STEP, "inputs": {"x": "a" * 100}},
    )
    text = json.dumps(export)
    figures = engine.state_figures(text, largest=2)
    assert figures["bytes"] == len(text) and figures["resources"] == 3
    assert [r["name"] for r in figures["largest"]] == ["big", "middle"]
    assert list(figures["bytes_by_type"]) == ["k8sfs:DriftGuard", HOST_STEP]
    assert next(iter(figures["largest"][0]["fields"])) == "inputs.x"
    assert figures["bytes_by_field"]["inputs.x"] == 3 + 502 + 102  # JSON strings, quoted


def test_a_resources_bytes_are_split_by_property() -> None:
    res = {"urn": "u", "inputs": {"create": "abc", "stdin": "x" * 10}, "outputs": {"stdout": ""}}
    res["parent"] = "p"
    sizes = engine.field_sizes(res)
    assert sizes == {"urn": 3, "inputs.create": 5, "inputs.stdin": 12, "outputs.stdout": 2, "parent": 3}


def test_the_engine_summary_keeps_what_each_size_finished() -> None:
    def op(seconds: float) -> dict[str, Any]:
        return {"seconds": seconds, "peak_mb": seconds * 10}

    sizes = {
        "10": {"resources": 248, "preview": op(7), "noop_up": op(9), "state": {"bytes": 100}},
        "500": {
            "resources": 5640,
            "preview": op(600),
            "timed_out": {"phase": "initial_up", "seconds": 1800.2},
        },
    }
    summary = engine.summarise_engine(sizes)
    assert summary["preview_seconds_by_nodes"] == {"10": 7, "500": 600}
    assert summary["noop_up_peak_mb_by_nodes"] == {"10": 90}
    assert summary["add_worker_up_seconds_by_nodes"] == {}
    assert summary["resources_by_nodes"] == {"10": 248, "500": 5640}
    assert summary["state_bytes_by_nodes"] == {"10": 100}
    assert summary["timed_out"] == {"500": {"phase": "initial_up", "after_seconds": 1800.2}}


def test_run_results_and_plot_carry_the_engine_section(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from bench.plot import plot

    one = mocks_size()
    sizes: dict[str, dict[str, Any]] = {
        "10": {"resources": 248, "preview": {"seconds": 7.0, "peak_mb": 700.0}},
        "50": {"timed_out": {"phase": "preview", "seconds": 60.0}},
    }
    section = {"sizes": sizes, **engine.summarise_engine(sizes)}
    results = bench_run.summarise([one], {}, {"skipped": "test"}, section)
    assert results["engine"]["preview_seconds_by_nodes"] == {"10": 7.0}
    assert bench_run.summarise([one], {}, {"skipped": "test"})["engine"] == {"skipped": "not run"}
    plot(results, tmp_path / "latest.png")
    assert (tmp_path / "latest.png").stat().st_size > 0
    engine.print_engine(section)
    engine.print_engine({"skipped": "why"})


# --- process tree memory (bench/proctree.py) ------------------------------------------------------


def _fake_proc(root: Path, pid: int, name: str, rss: int, hwm: int, pss: int | None, kids: list[int]) -> None:
    task = root / str(pid) / "task" / str(pid)
    task.mkdir(parents=True)
    (task / "children").write_text(" ".join(map(str, kids)) + (" " if kids else ""))
    (root / str(pid) / "status").write_text(
        f"Name:\t{name[:15]}\nState:\tS (sleeping)\nVmHWM:\t  {hwm} kB\nVmRSS:\t  {rss} kB\n"
    )
    (root / str(pid) / "cmdline").write_bytes(f"/opt/bin/{name}\0--flag\0".encode())
    if pss is not None:
        (root / str(pid) / "smaps_rollup").write_text(f"Rss:  {rss} kB\nPss:  {pss} kB\n")


def test_the_tree_is_walked_through_every_threads_children(tmp_path: Path) -> None:
    _fake_proc(tmp_path, 10, "pulumi", 1024, 2048, 1000, [11])
    _fake_proc(tmp_path, 11, "pulumi-language-python", 512, 512, 400, [])
    # A child started by another of the engine's threads.
    (tmp_path / "10" / "task" / "12").mkdir()
    (tmp_path / "10" / "task" / "12" / "children").write_text("13")
    _fake_proc(tmp_path, 13, "pulumi-resource-kubernetes", 2048, 3072, None, [])  # no smaps_rollup: RSS
    walked = proctree.tree(10, tmp_path)
    assert walked[0] == 10 and sorted(walked) == [10, 11, 13]
    procs = proctree.sample(10, tmp_path)
    assert procs[13].name == "pulumi-resource-kubernetes" and procs[13].pss_kb == 2048
    peak = proctree.Peak(10)
    peak.add(procs)
    (tmp_path / "13" / "status").unlink()  # it exited: the next sample has less, the peak stays
    peak.add(proctree.sample(10, tmp_path))
    summary = peak.summary()
    assert summary["peak_mb"] == round((1024 + 512 + 2048) / 1024, 1)
    assert summary["peak_pss_mb"] == round((1000 + 400 + 2048) / 1024, 1)
    assert summary["hwm_sum_mb"] == round((2048 + 512 + 3072) / 1024, 1)
    assert summary["engine_peak_mb"] == 2.0 and summary["samples"] == 2
    assert list(summary["processes_hwm_mb"]) == [
        "pulumi-resource-kubernetes",
        "pulumi",
        "pulumi-language-python",
    ]


def test_status_fields_and_names() -> None:
    assert proctree.field_kb("VmRSS:\t  123 kB\nVmHWM:\t 456 kB\n", "VmHWM") == 456
    assert proctree.field_kb("Name:\tx\n", "VmRSS") == 0  # a zombie has no memory lines
    assert proctree.process_name(b"/usr/bin/python3\0-m\0x\0", "python3") == "python3"
    assert proctree.process_name(b"", "kworker") == "kworker"


def test_a_process_is_named_by_pid_and_start_time(tmp_path: Path) -> None:
    (tmp_path / "42").mkdir()
    # The command name may hold spaces and parentheses; field 22 counts from after it.
    stat = "42 (a (b) c) S 1 42 42 0 -1 0 0 0 0 0 1 2 0 0 20 0 3 0 98765 1 2\n"
    (tmp_path / "42" / "stat").write_text(stat)
    assert proctree.start_time(42, tmp_path) == 98765
    assert proctree.start_time(43, tmp_path) is None
    assert proctree.start_time(os.getpid()) == proctree.start_time(os.getpid()) is not None


def test_the_sampler_sees_a_real_process_tree() -> None:
    proc = subprocess.Popen(["sh", "-c", "sleep 1 & sleep 1; wait"])
    with proctree.Sampler(proc.pid, every=0.05) as sampler:
        proc.wait(timeout=10)
    summary = sampler.peak.summary()
    assert summary["samples"] > 0 and summary["peak_mb"] > 0
    assert "sleep" in summary["processes_hwm_mb"] and "sh" in summary["processes_hwm_mb"]


# --- the fake site's hosts and kubelet (bench/fake_site.py, bench/fake_kubelet.py) -----------------


def test_a_fake_host_reads_stdin_runs_nothing_and_gives_kube_proxy_its_kubeconfig(tmp_path: Path) -> None:
    script = tmp_path / fake_site.HOST_COMMAND
    script.write_text(fake_site.host_command(tmp_path))
    (tmp_path / fake_site.KUBE_PROXY_FILE).write_text("kind: Config\n")

    def host(command: str, stdin: str) -> str:
        env = {**os.environ, "SSH_ORIGINAL_COMMAND": command}
        done = subprocess.run(["sh", str(script)], input=stdin, env=env, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done.stdout

    assert host("sh -c 'rm -rf /'", "a bundle\n") == ""
    assert host(node_admission.kube_proxy_kubeconfig(), "") == "kind: Config\n"
    assert host(node_admission.joined_probe(), "") == ""  # never joined: a NodeHost admits it


def test_the_fake_hosts_sshd_runs_nothing_and_accepts_only_the_key(tmp_path: Path) -> None:
    config = fake_site.sshd_config(tmp_path)
    assert f"ForceCommand {tmp_path / fake_site.HOST_COMMAND}\n" in config
    assert f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\n" in config
    assert "PasswordAuthentication no\n" in config and "Port 22\n" in config
    if os.geteuid() != 0 or not os.path.exists(fake_site.SSHD):
        return  # the text is checked; sshd's own check needs root and openssh-server
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "host_key")], check=True
    )
    (tmp_path / "sshd_config").write_text(config)
    checked = subprocess.run([fake_site.SSHD, "-t", "-f", str(tmp_path / "sshd_config")], capture_output=True)
    assert checked.returncode == 0, checked.stderr


def test_the_api_name_resolves_inside_the_site() -> None:
    text = fake_site.hosts_file({"k8s-api.bench.internal": "127.0.0.1"})
    assert text.splitlines() == ["127.0.0.1 localhost", "127.0.0.1 k8s-api.bench.internal"]


def test_the_fake_kubelet_pins_daemonset_pods_and_reports_them_ready() -> None:
    pod = {
        "metadata": {"name": "kube-flannel-ds-x", "namespace": "kube-flannel"},
        "spec": {
            "containers": [{"name": "kube-flannel", "image": "flannel:v1"}],
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["w7"]}]}
                        ]
                    }
                }
            },
        },
    }
    assert fake_kubelet.affinity_node(pod) == "w7"
    assert fake_kubelet.affinity_node({"spec": {"containers": []}}) is None
    status = fake_kubelet.ready_status(pod, "10.240.0.2", "2026-01-01T00:00:00Z")["status"]
    assert status["phase"] == "Running" and status["podIP"] == "10.240.0.2"
    assert {"type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"} in status[
        "conditions"
    ]
    assert [c["name"] for c in status["containerStatuses"] if c["ready"]] == ["kube-flannel"]
    ips = fake_kubelet.pod_ips()
    first = [next(ips) for _ in range(600)]
    assert len(set(first)) == 600 and all(ip.startswith("10.240.") for ip in first)
