"""`NodeHost`: a worker-only node as one resource, with no secret in the stack's state.

A stack's engine cost grows with the square of its resources and with every secret in its state
(docs/scale.md); a worker used to be 15 resources, 9 of them holding a secret. Its NodeHost is
one dynamic resource whose inputs are plain:
- `settings`: the resolved configuration the node renders from (the cluster's settings, its
  control planes and this node: spec.node_host.NodeSettings), so that the provider renders
  the node's parts with the program's own modules (render/node_parts.py) from the state alone;
- `parts`: `name:sha256` of each part (preparation, binaries, runtime, kubelet, kube-proxy), in
  order, and `lib`, the sha256 of its script library, so that a preview says which part of which
  host changes (one value each: the engine's cost per step follows the state's values);
- how to reach the node and the control-plane host that admits it (`approver`), without keys:
  the provider reads the SSH keys from the stack's configuration, which the engine gives every
  dynamic provider, secrets decrypted (a lab stack's key, made by the stack, is the exception:
  an input, secret);
- the cluster CA (public) and the sha256 of kube-proxy's kubeconfig, which the provider copies
  from the control-plane host.

The provider:
- create: installs the host's script library, then (unless the node has joined) makes a
  bootstrap token and its Secret and allow list through the approver host
  (render/node_admission.py), runs every part's create, and waits on the approver host until
  the node serves a certificate of ours;
- update: the library again, the parts whose sha256 changed (a part no longer wanted is
  deleted), a new token only for a node that has not joined; and repairs what the last refresh
  found drifted: the drifted parts run again, and the services whose files or binaries they put
  back restart;
- read (refresh): probes the node's guarded files, services, binaries and library; `drift` lists
  what differs, so `pulumi refresh --expect-no-changes` fails naming it and the next `up`
  repairs it;
- delete: removes the Node object and the allow list through the approver host, runs the
  parts' deletes in reverse, then removes the library.

The provider runs the code of the program that runs it. Applying, it refuses parts that render
otherwise than the program's `parts` say (the two disagree). Reading and deleting a state that
another version of the program made, it cannot: a refresh probes only the parts (and library
files) this version renders as recorded, and a delete runs this version's deletes.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
from pulumi.dynamic import (
    ConfigureRequest,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

from components import host_lib
from components.drift_guard import REPAIRED
from components.pickling import fresh_pickler
from components.ssh import Sessions, SshError, Target
from render import artifacts, drift, drift_rules, node_admission, node_parts, scripts
from render.artifacts import STATE_DIR as ARTIFACT_STATE_DIR
from render.host_files import sha256
from render.node_parts import Contents, HostPart
from spec.model import NodeSpec
from spec.node_host import ANY_NODE, NodeKeys, load_node, node_keys

# Inputs whose change is a change of the host (everything but the outputs the provider adds).
COMPARED = ("node", "settings", "parts", "host", "port", "user", "host_key", "proxy", "approver", "ca", "lib")
SECRET_OUTPUTS = ["private_key"]
DRIFT = "drift"  # the output listing what the last refresh found (one line per drift)
TOKEN_ID = "token_id"  # the output naming the last token made (public: it names its Secret)


def _endpoint(props: Mapping[str, Any], key: str, bastion_key: str | None) -> Target:
    proxy = props.get("proxy")
    return Target(
        host=props["host"],
        port=int(props.get("port") or 22),
        user=props.get("user") or "root",
        private_key=key,
        host_key=props.get("host_key") or None,
        proxy=None
        if not proxy
        else Target(
            host=proxy["host"],
            port=int(proxy.get("port") or 22),
            user=proxy.get("user") or "root",
            private_key=bastion_key or key,
        ),
    )


class NodeHostProvider(ResourceProvider):
    # Its code is the program's own modules, nothing secret: a secret copy in every resource's
    # state costs the engine an encryption per resource at every step (docs/scale.md).
    serialize_as_secret_always = False

    def __init__(self) -> None:
        self.keys: NodeKeys = {}

    def configure(self, req: ConfigureRequest) -> None:
        self.keys = node_keys(req.config.get("ssh"), req.config.get("nodes"))

    # --- reaching hosts ---

    def _target(self, props: Mapping[str, Any], where: Mapping[str, Any]) -> Target:
        name = where["node"]
        given = props.get("private_key")
        # A node removed from `nodes` (its NodeHost being deleted) has only the top-level key.
        found = self.keys.get(name) or self.keys.get(ANY_NODE)
        key, bastion = (given, None) if given else found or (None, None)
        if not key:
            raise SshError(
                f"no SSH private key for node {name} in the stack's configuration (ssh.privateKey,"
                f" ssh.privateKeyFile or nodes[].ssh): the NodeHost of {props['node']} reads it there;"
                " a node removed from `nodes` is reached with ssh.privateKey or ssh.privateKeyFile"
            )
        return _endpoint(where, key, bastion)

    def _node(self, props: Mapping[str, Any]) -> Target:
        return self._target(props, props)

    def _approver(self, props: Mapping[str, Any]) -> Target:
        return self._target(props, props["approver"])

    # --- rendering ---

    @staticmethod
    def _parts(props: Mapping[str, Any], contents: Contents, check: bool = True) -> list[HostPart]:
        """The node's parts as this code renders them from `props`; `check`: refuse any whose
        sha256 is not the recorded one (applying: the program and the provider disagree)."""
        spec, node = load_node(props["settings"], props["node"])
        parts = node_parts.node_parts(spec, node, props["name"], contents)
        if check and node_parts.identities(parts) != list(props["parts"]):
            raise ValueError(
                f"{props['node']}: the provider renders other parts than the program did"
                " (run `pulumi up` with the same version of the program)"
            )
        return parts

    @classmethod
    def _recorded(cls, props: Mapping[str, Any]) -> list[HostPart]:
        """The parts this code renders as `props` recorded them (a state another version made
        may have others)."""
        recorded = set(props["parts"])
        parts = cls._parts(props, cls._hashes(props), check=False)
        return [p for p in parts if f"{p.name}:{p.identity}" in recorded]

    @staticmethod
    def _hashes(props: Mapping[str, Any]) -> Contents:
        return Contents(props["ca_sha256"], props.get("kube_proxy_sha256"))

    def _contents(self, ssh: Sessions, props: Mapping[str, Any], bootstrap: str | None) -> Contents:
        """Every text the parts install: the CA (an input), kube-proxy's kubeconfig (from the
        approver host), the bootstrap kubeconfig (None: the node has joined)."""
        kube_proxy = None
        if props.get("kube_proxy_sha256"):
            kube_proxy = ssh.run_checked(
                self._approver(props),
                node_admission.kube_proxy_kubeconfig(),
                what="reading kube-proxy's kubeconfig",
            ).stdout
        return Contents(
            props["ca_sha256"], props.get("kube_proxy_sha256"), props["ca"], kube_proxy, bootstrap
        )

    # --- steps ---

    def _library(self, ssh: Sessions, props: Mapping[str, Any]) -> None:
        names = library_names(props)
        if names is None:
            raise ValueError(
                f"{props['node']}: the provider's script library is not the program's"
                " (run `pulumi up` with the same version of the program)"
            )
        host_lib.install_on(ssh, self._node(props), names)

    def _joined(self, ssh: Sessions, props: Mapping[str, Any]) -> bool:
        out = ssh.run_checked(
            self._node(props), node_admission.joined_probe(), what="checking the join"
        ).stdout
        return out.strip() == node_admission.JOINED

    def _admit(self, ssh: Sessions, props: Mapping[str, Any]) -> tuple[str, str]:
        """A new token, made valid in the API and named in the node's allow list: (its id, the
        bootstrap kubeconfig)."""
        spec, node = load_node(props["settings"], props["node"])
        token = node_admission.new_token(int(time.time()))
        for step in node_admission.issue(node, token):
            ssh.run_checked(self._approver(props), step.command, step.stdin, what=f"admitting {node.name}")
        return token.token_id, node_admission.bootstrap_kubeconfig(spec, props["ca"], token)

    def _apply(
        self, ssh: Sessions, props: Mapping[str, Any], only: set[str] | None, admit: bool
    ) -> dict[str, Any]:
        """Runs the parts (`only` those named; None: all), admitting the node first if `admit`;
        returns the outputs the provider adds."""
        added: dict[str, Any] = {}
        if only is not None and not only and not admit:
            return added
        bootstrap = None
        if admit:
            added[TOKEN_ID], bootstrap = self._admit(ssh, props)
        parts = self._parts(props, self._contents(ssh, props, bootstrap))
        target = self._node(props)
        for part in parts:
            if only is None or part.name in only or (admit and part.name == "kubelet"):
                ssh.run_checked(target, part.create, part.bundle() or "", what=f"{props['name']}-{part.name}")
        if admit:
            _, node = load_node(props["settings"], props["node"])
            wait = node_admission.until_joined(node)
            ssh.run_checked(self._approver(props), wait.command, what=f"waiting for {node.name} to join")
        return added

    # --- the provider's operations ---

    def create(self, props: dict[str, Any]) -> CreateResult:
        with Sessions(host_lib.CONNECT_ATTEMPTS) as ssh:
            self._library(ssh, props)
            added = self._apply(ssh, props, None, admit=not self._joined(ssh, props))
        return CreateResult(id_=f"{props['host']}:{props['node']}", outs={**props, **added, DRIFT: []})

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in COMPARED if olds.get(k) != news.get(k)]
        return DiffResult(changes=bool(changed or olds.get(DRIFT)))

    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        with Sessions(host_lib.CONNECT_ATTEMPTS) as ssh:
            return self._update(ssh, olds, news)

    def _update(self, ssh: Sessions, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        self._library(ssh, news)
        old_parts = dict(p.split(":", 1) for p in olds.get("parts", []))
        new_parts = dict(p.split(":", 1) for p in news["parts"])
        gone = [name for name in old_parts if name not in new_parts]
        if gone:
            for part in reversed(self._parts(olds, self._hashes(olds), check=False)):
                if part.name in gone:
                    ssh.run_checked(self._node(olds), part.delete, what=f"{olds['name']}-{part.name}")
        changed = {n for n, h in new_parts.items() if old_parts.get(n) != h}
        drifted = drifted_parts(olds.get(DRIFT) or [])
        added = self._apply(ssh, news, changed | drifted, admit=not self._joined(ssh, news))
        if drifted:
            restart_repaired(
                ssh, self._node(news), self._parts(news, self._hashes(news)), olds.get(DRIFT) or []
            )
        kept = {TOKEN_ID: olds.get(TOKEN_ID)} if TOKEN_ID in olds else {}
        # What was put back stays in state until the next update: the repair command prints it.
        repaired = [line.replace("\t", ": ", 1) for line in olds.get(DRIFT) or []]
        return UpdateResult(outs={**news, **kept, **added, DRIFT: [], REPAIRED: repaired})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        parts = self._recorded(props)
        with Sessions() as ssh:
            found = probe(ssh, self._node(props), props, parts)
        return ReadResult(id_=id_, outs={**props, DRIFT: found})

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        _, node = load_node(props["settings"], props["node"])
        target = self._node(props)
        with Sessions() as ssh:
            for step in node_admission.forget(node):
                ssh.run_checked(self._approver(props), step.command, step.stdin, what=f"removing {node.name}")
            for part in reversed(self._parts(props, self._hashes(props), check=False)):
                ssh.run_checked(target, part.delete, what=f"{props['name']}-{part.name} (delete)")
            ssh.run_checked(
                target, host_lib.remove_command(scripts.LIB_DIR), what="removing the host script library"
            )


def library_digest(names: Iterable[str]) -> str:
    """The `lib` input: one hash over the library's file names, which carry their texts' hashes."""
    return sha256("\n".join(sorted(names)))


def library_names(props: Mapping[str, Any]) -> list[str] | None:
    """The library files `props` record, when this code renders that library; else None."""
    names = sorted(scripts.library())
    return names if library_digest(names) == props["lib"] else None


# --- drift ---


def _expected_files(
    props: Mapping[str, Any], parts: list[HostPart]
) -> dict[str, tuple[str, drift.FileState]]:
    """path -> (the part that puts it there, its state): the script library ("lib", when it is
    the one `props` record) and every part's guarded files."""
    library = host_lib.texts(library_names(props) or [])
    out = {
        f"{scripts.LIB_DIR}/{name}": ("lib", drift.FileState(sha256(text), "0644", "root", "root"))
        for name, text in library.items()
    }
    for part in parts:
        for f in part.guarded():
            out[f.meta.path] = (part.name, drift.FileState(f.sha256, f.meta.mode, f.meta.owner, f.meta.group))
    return out


def probe(ssh: Sessions, target: Target, props: Mapping[str, Any], parts: list[HostPart]) -> list[str]:
    """What differs on the host from what its parts put there, one `part<TAB>drift` line each."""
    files = _expected_files(props, parts)
    seen = drift.parse_files_probe(ssh.run(target, drift.probe_files_script(sorted(files))).stdout)
    out = []
    for path, (part, want) in sorted(files.items()):
        for d in drift.compare_files({path: want}, {path: seen.get(path, drift.FileState(drift.MISSING))}):
            out.append(f"{part}\t{d}")
    units = {p.unit: p.name for p in parts if p.unit}
    states = drift.parse_units_probe(ssh.run(target, drift.probe_units_script(list(units))).stdout)
    for unit, part in units.items():
        have = states.get(unit, drift.UnitState("not-found", "unknown"))
        for d in drift.compare_units({unit: drift.UnitState("enabled", "active")}, {unit: have}):
            out.append(f"{part}\t{d}")
    spec, node = load_node(props["settings"], props["node"])
    names = [a.name for a in artifacts.node_artifacts(spec, node)]
    states_a = drift.parse_artifacts_probe(
        ssh.run(target, drift.probe_artifacts_script(names, ARTIFACT_STATE_DIR)).stdout
    )
    for name in names:
        state = states_a.get(name, "drifted:unreadable")
        if state != "ok":
            out.append(f"binaries\t{drift.Drift('binary', name, 'as installed', state)}")
    return out


def drifted_parts(lines: list[str]) -> set[str]:
    """The parts to run again (the library is written back on every update anyway)."""
    return {line.split("\t", 1)[0] for line in lines} - {"lib"}


def drifts(_inputs: Mapping[str, Any], outputs: Mapping[str, Any]) -> list[str]:
    """What the last refresh found on the node, one line each (scripts/repair_hosts.py)."""
    return [line.replace("\t", ": ", 1) for line in outputs.get(DRIFT) or []]


def restart_repaired(ssh: Sessions, target: Target, parts: list[HostPart], lines: list[str]) -> None:
    """After the drifted parts ran again: restart the services whose files or binaries were put
    back (their recorded hash did not change, so their own scripts would not)."""
    units = {p.name: p.unit for p in parts if p.unit}
    restart: list[str] = []
    for line in lines:
        part, _, rest = line.partition("\t")
        if part == "binaries":
            for path in rest.rsplit("found ", 1)[-1].removeprefix("drifted:").split(","):
                restart += drift_rules.units_for_binary(path)
        elif units.get(part) and not rest.startswith("unit"):
            restart.append(str(units[part]))
    order = [p.unit for p in parts if p.unit and p.unit in restart]
    if order:
        lines_ = ["set -eu", "systemctl daemon-reload", *[f"systemctl restart {u}" for u in order]]
        ssh.run_checked(target, "\n".join(lines_) + "\n", what="restarting repaired services")


class NodeHost(Resource, module="k8sfs", name="NodeHost"):
    """One worker-only node: its parts, its admission and its drift (the module's docstring)."""

    def __init__(
        self,
        name: str,
        props: Mapping[str, Any],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        secret = pulumi.ResourceOptions(additional_secret_outputs=SECRET_OUTPUTS)
        outputs = {DRIFT: None, TOKEN_ID: None}
        fresh_pickler()  # components/pickling.py
        super().__init__(
            NodeHostProvider(), name, {**props, **outputs}, pulumi.ResourceOptions.merge(opts, secret)
        )


def _where(node: NodeSpec, host_key: pulumi.Input[str] | None) -> dict[str, Any]:
    """How to reach `node`, without its keys."""
    ssh = node.ssh
    bastion = ssh.bastion
    return {
        "node": node.name,
        "host": node.address,
        "port": ssh.port,
        "user": ssh.user,
        "host_key": host_key if host_key is not None else ssh.host_key,
        "proxy": None
        if bastion is None
        else {"host": bastion.host, "port": bastion.port, "user": bastion.user},
    }


@dataclass(frozen=True)
class Admission:
    """Where a cluster's NodeHosts are admitted: its approver's control-plane node, the CA, and
    kube-proxy's kubeconfig (its hash: the provider copies the text from that node)."""

    approver: NodeSpec
    ca_pem: pulumi.Input[str]
    kube_proxy_kubeconfig: pulumi.Input[str] | None
    host_keys: Mapping[str, pulumi.Input[str]]  # a lab's hosts' keys, by node name
    private_key: pulumi.Input[str] | None = None  # a lab's own key; None: the configuration's


def node_host(
    name: str,
    node: NodeSpec,
    settings: str,
    admission: Admission,
    opts: pulumi.ResourceOptions,
) -> NodeHost:
    """`node`'s NodeHost, its parts rendered from `settings` as the provider will render them."""
    spec, own = load_node(settings, node.name)
    proxy = admission.kube_proxy_kubeconfig if spec.kube_proxy.enabled else None

    def identities(texts: list[str | None]) -> list[str]:
        ca, kube_proxy = texts
        contents = Contents(sha256(ca or ""), sha256(kube_proxy) if kube_proxy is not None else None)
        return node_parts.identities(node_parts.node_parts(spec, own, name, contents))

    texts = pulumi.Output.all(admission.ca_pem, proxy)
    props: dict[str, Any] = {
        "name": name,
        **_where(own, admission.host_keys.get(node.name)),
        "settings": settings,
        "parts": pulumi.Output.unsecret(texts.apply(identities)),
        "approver": _where(admission.approver, admission.host_keys.get(admission.approver.name)),
        "ca": admission.ca_pem,
        "ca_sha256": pulumi.Output.from_input(admission.ca_pem).apply(sha256),
        "kube_proxy_sha256": None
        if proxy is None
        else pulumi.Output.unsecret(pulumi.Output.from_input(proxy).apply(sha256)),
        "lib": library_digest(scripts.library()),
    }
    if admission.private_key is not None:
        props["private_key"] = pulumi.Output.secret(admission.private_key)
    return NodeHost(name, props, opts)
