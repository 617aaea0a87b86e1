"""The kubelet-serving CSR policy: the pure decision, and the shell approver giving the same answers.

Each case is a real PKCS#10 request (built with `cryptography`) inside a CSR API object. The
pure `decide` runs on facts parsed from it; the shell approver runs with real openssl against a
fake kubectl that serves the same objects. Both must approve exactly the expected cases.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from render import csr_policy as cp
from render.bootstrap import NODE_TOKEN_GROUP
from tests.support.csr import TOKEN_IDS, allow_lists, cluster, dns, identities, ip, request
from tests.support.tools import assert_units_verify, shellcheck

GOOD_USAGES = ["digital signature", "key encipherment", "server auth"]
MASTERS = ("system:nodes", "system:masters")
NODE_GROUPS = ["system:nodes", "system:authenticated"]


def csr(
    name: str,
    node: str = "w1",
    sans: list[x509.GeneralName] | None = None,
    user: str | None = None,
    groups: list[str] | None = None,
    usages: list[str] | None = None,
    signer: str = cp.SIGNER,
    conditions: list[str] | None = None,
    pem: str | None = None,
) -> dict[str, Any]:
    user = user or f"system:node:{node}"
    if sans is None:
        sans = [dns(node), ip("192.168.10.21")]
    obj: dict[str, Any] = {
        "metadata": {"name": name},
        "spec": {
            "signerName": signer,
            "username": user,
            "groups": NODE_GROUPS if groups is None else groups,
            "usages": GOOD_USAGES if usages is None else usages,
            "request": pem or request(user, sans),
        },
        "status": {"conditions": [{"type": c} for c in conditions or []]},
    }
    return obj


def client(
    name: str,
    node: str = "w1",
    token: str | None = None,
    usages: list[str] | None = None,
    pem: str | None = None,
    signer: str = cp.CLIENT_SIGNER,
    conditions: list[str] | None = None,
) -> dict[str, Any]:
    """What kubelet sends with its bootstrap kubeconfig: its node's name, no SANs."""
    return csr(
        name,
        node,
        user=f"system:bootstrap:{TOKEN_IDS.get(node, 'nnnnnn') if token is None else token}",
        groups=["system:bootstrappers", NODE_TOKEN_GROUP, "system:authenticated"],
        usages=["digital signature", "client auth"] if usages is None else usages,
        signer=signer,
        conditions=conditions,
        pem=pem or request(f"system:node:{node}", None),
    )


CASES: list[tuple[dict[str, Any], bool]] = [
    (csr("csr-good"), True),
    (csr("csr-good-no-keyenc", usages=["server auth", "digital signature"]), True),
    (csr("csr-good-cp", node="cp1", sans=[dns("cp1"), dns("cp1.example.com"), ip("192.168.10.11")]), True),
    (csr("csr-good-v6", node="w6", sans=[dns("w6"), ip("fd00::21")]), True),
    (csr("csr-client-signer", signer=cp.CLIENT_SIGNER), False),
    (csr("csr-already-approved", conditions=["Approved"]), False),
    (csr("csr-denied", conditions=["Denied"]), False),
    (csr("csr-service-account", user="system:serviceaccount:default:x"), False),
    (csr("csr-unknown-node", node="intruder", sans=[dns("intruder")]), False),
    (csr("csr-no-group", groups=["system:authenticated"]), False),
    (csr("csr-client-usage", usages=[*GOOD_USAGES, "client auth"]), False),
    (csr("csr-server-only", usages=["server auth"]), False),
    (csr("csr-cn-of-another-node", pem=request("system:node:cp1", [dns("w1")])), False),
    (
        csr(
            "csr-extra-ou",
            pem=request(
                "system:node:w1",
                [dns("w1")],
                extra=[x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "x")],
            ),
        ),
        False,
    ),
    (csr("csr-no-org", pem=request("system:node:w1", [dns("w1")], orgs=())), False),
    (
        csr(
            "csr-two-orgs",
            pem=request("system:node:w1", [dns("w1")], orgs=("system:nodes", "system:masters")),
        ),
        False,
    ),
    (csr("csr-multi-valued-rdn", pem=request("system:node:w1", [dns("w1")], multi_valued=True)), False),
    (csr("csr-ip-of-another-node", sans=[dns("w1"), ip("192.168.10.11")]), False),
    (csr("csr-foreign-dns", sans=[dns("w1"), dns("evil.example.com")]), False),
    (csr("csr-email", sans=[dns("w1"), x509.RFC822Name("a@example.com")]), False),
    (csr("csr-uri", sans=[dns("w1"), x509.UniformResourceIdentifier("spiffe://x/w1")]), False),
    (csr("csr-comma-in-dns", sans=[dns("w1"), dns("w1, IP Address:192.168.10.21")]), False),
    (csr("csr-escaped-dns", sans=[dns("w\\061")]), False),
    # A node's first client certificate, asked for with its own bootstrap token.
    (client("client-good"), True),
    (client("client-good-cp", node="cp1"), True),
    (client("client-good-usages", usages=["digital signature", "key encipherment", "client auth"]), True),
    (client("client-stolen-token", node="cp1", token=TOKEN_IDS["w1"]), False),
    (client("client-unknown-token", token="zzzzzz"), False),
    (client("client-unknown-node", node="intruder"), False),
    (client("client-server-usage", usages=["client auth", "server auth"]), False),
    (client("client-with-san", pem=request("system:node:w1", [dns("w1")])), False),
    (client("client-masters", pem=request("system:node:w1", None, orgs=MASTERS)), False),
    (client("client-not-a-node", pem=request("kubernetes-admin", None)), False),
    (client("client-approved", conditions=["Approved"]), False),
    (client("client-other-signer", signer="kubernetes.io/kube-apiserver-client"), False),
    (csr("csr-no-san", pem=request("system:node:w1", None)), False),
    (csr("csr-weird-user", user="system:node:w1 x", pem=request("system:node:w1 x", [dns("w1")])), False),
]


# --- facts from an API object, with cryptography -------------------------------------------------

_SHORT = {NameOID.COMMON_NAME: "CN", NameOID.ORGANIZATION_NAME: "O", NameOID.ORGANIZATIONAL_UNIT_NAME: "OU"}


def facts(obj: dict[str, Any]) -> cp.CsrFacts:
    req = x509.load_pem_x509_csr(base64.b64decode(obj["spec"]["request"]))
    subject = tuple(
        tuple((_SHORT.get(a.oid, a.oid.dotted_string), str(a.value)) for a in rdn) for rdn in req.subject.rdns
    )
    sans: list[cp.San] = []
    extensions = 0
    try:
        ext = req.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        extensions = 1
        for general in ext.value:
            kinds: dict[type, str] = {
                x509.DNSName: "DNS",
                x509.IPAddress: "IP",
                x509.RFC822Name: "email",
                x509.UniformResourceIdentifier: "URI",
            }
            kind = kinds.get(type(general), "other")
            sans.append(cp.San(kind, str(general.value)))
    except x509.ExtensionNotFound:
        pass
    except x509.DuplicateExtension:
        extensions = 2
    spec_ = obj["spec"]
    return cp.CsrFacts(
        name=obj["metadata"]["name"],
        signer_name=spec_["signerName"],
        username=spec_["username"],
        groups=tuple(spec_["groups"]),
        usages=tuple(spec_["usages"]),
        subject=subject,
        sans=tuple(sans),
        san_extensions=extensions,
        conditions=tuple(c["type"] for c in obj["status"]["conditions"]),
    )


@pytest.mark.parametrize(("obj", "approve"), CASES, ids=[c[0]["metadata"]["name"] for c in CASES])
def test_decide(obj: dict[str, Any], approve: bool) -> None:
    decision = cp.decide(facts(obj), identities())
    assert decision.approve is approve, decision.reason
    assert decision.reason


def test_identities_hold_each_nodes_own_names_and_addresses_only() -> None:
    ids = identities()
    assert ids["cp1"].dns_names == {"cp1", "cp1.example.com"}
    assert ids["cp1"].ip_addresses == {ipaddress.ip_address("192.168.10.11")}
    assert ids["w1"].dns_names == {"w1"}
    assert ids["w6"].ip_addresses == {ipaddress.ip_address("fd00::21")}


def test_node_files_list_each_nodes_own_names_in_openssl_forms() -> None:
    files = cp.node_files(identities().values())
    assert set(files) == {n.name for n in cluster().kubelet_nodes}
    assert "w6 IP FD00:0:0:0:0:0:0:21\n" in files["w6"] and "w6 IP fd00::21\n" in files["w6"]
    assert "cp1 DNS cp1.example.com\n" in files["cp1"] and "w1 IP 192.168.10.21\n" in files["w1"]
    for name, text in files.items():
        rows = [line.split() for line in text.splitlines() if not line.startswith("#")]
        assert rows and {row[0] for row in rows} == {name}, f"{name}'s file names another node"


def test_allow_configmaps_hold_each_nodes_own_list() -> None:
    maps = allow_lists()
    assert [m["metadata"]["name"] for m in maps] == [f"csr-allow-{n.name}" for n in cluster().kubelet_nodes]
    files = cp.node_files(identities().values())
    for m, node in zip(maps, cluster().kubelet_nodes, strict=True):
        assert m["metadata"]["namespace"] == cp.ALLOW_NAMESPACE
        assert m["data"] == {cp.ALLOW_KEY: files[node.name]}


def test_two_san_extensions_are_refused() -> None:
    good = facts(CASES[0][0])
    twice = cp.CsrFacts(**{**good.__dict__, "san_extensions": 2})
    assert not cp.decide(twice, identities()).approve


# --- the shell approver, same cases --------------------------------------------------------------

FAKE_KUBECTL = '''#!{python}
"""kubectl for the approver test: answers exactly the queries the approver makes."""
import json, sys
args = sys.argv[1:]
while args and args[0] in ("--kubeconfig", "--request-timeout"):
    args = args[2:]
objs = {{o["metadata"]["name"]: o for o in json.load(open({objects!r}))}}
maps = {{(m["metadata"]["namespace"], m["metadata"]["name"]): m for m in json.load(open({maps!r}))}}
if args[:3] == ["get", "configmap", "-n"]:
    key, template = (args[3], args[4]), args[6]
    assert args[5] == "-o" and template == {template!r}, args
    if key not in maps:
        sys.exit('Error from server (NotFound): configmaps "' + key[1] + '" not found')
    sys.stdout.write(maps[key]["data"].get({allow_key!r}, ""))
    sys.exit(0)
if args[:2] == ["delete", "node"]:
    assert args[3:] == ["--ignore-not-found", "--wait=false"], args
    if args[2] == "api-down":
        sys.exit("The connection to the server 10.0.0.1:6443 was refused")
    open({approved!r}, "a").write("deleted:" + args[2] + "\\n")
    print('node "' + args[2] + '" deleted')
    sys.exit(0)
if args[:2] == ["certificate", "approve"]:
    open({approved!r}, "a").write(args[2] + "\\n")
    print("certificatesigningrequest.certificates.k8s.io/" + args[2] + " approved")
    sys.exit(0)
if args[:2] != ["get", "csr"]:
    sys.exit("fake kubectl: unsupported " + repr(args))
rest = args[2:]
if rest[0] == "-o":
    path = rest[1].removeprefix("jsonpath=")
    assert "{{.metadata.name}}" in path, path
    for o in objs.values():
        conds = " ".join(c["type"] for c in o["status"]["conditions"])
        print(o["metadata"]["name"] + " " + o["spec"]["signerName"] + " " + conds)
    sys.exit(0)
o, path = objs[rest[0]], rest[2].removeprefix("jsonpath=")
spec = o["spec"]
answers = {{
    "{{.spec.username}}": spec["username"],
    "{{.spec.request}}": spec["request"],
    '{{range .spec.groups[*]}}{{@}}{{"\\\\n"}}{{end}}': "".join(g + "\\n" for g in spec["groups"]),
    '{{range .spec.usages[*]}}{{@}}{{"\\\\n"}}{{end}}': "".join(u + "\\n" for u in spec["usages"]),
}}
if path not in answers:
    sys.exit("fake kubectl: unsupported jsonpath " + path)
sys.stdout.write(answers[path])
'''


def run_approver(
    tmp_path: Path, objects: list[dict[str, Any]], args: tuple[str, ...] = (), port: int = 10250
) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    (tmp_path / "objects.json").write_text(json.dumps(objects))
    (tmp_path / "maps.json").write_text(json.dumps(allow_lists()))
    approved = tmp_path / "approved"
    approved.write_text("")
    kubectl = tmp_path / "kubectl"
    kubectl.write_text(
        FAKE_KUBECTL.format(
            python=sys.executable,
            objects=str(tmp_path / "objects.json"),
            maps=str(tmp_path / "maps.json"),
            approved=str(approved),
            # What the approver asks for: the list's text, nothing when the key is missing.
            template=f'go-template={{{{with index .data "{cp.ALLOW_KEY}"}}}}{{{{.}}}}{{{{end}}}}',
            allow_key=cp.ALLOW_KEY,
        )
    )
    kubectl.chmod(0o755)
    script = tmp_path / "approver.sh"
    script.write_text(
        cp.approver_script(
            kubectl=str(kubectl),
            kubeconfig=str(tmp_path / "kubeconfig"),
            ca_file=str(tmp_path / "ca.crt"),
            kubelet_port=port,
        )
    )
    result = subprocess.run(["sh", str(script), *args], capture_output=True, text=True, timeout=120)
    return set(approved.read_text().split()), result


@pytest.mark.realtool
def test_shell_approver_gives_the_same_answers_as_decide(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    objects = [obj for obj, _ in CASES]
    approved, result = run_approver(tmp_path, objects)
    assert result.returncode == 0, result.stderr
    log = result.stdout
    nodes = identities()
    by_python = {obj["metadata"]["name"] for obj in objects if cp.decide(facts(obj), nodes).approve}
    expected = {obj["metadata"]["name"] for obj, approve in CASES if approve}
    assert by_python == expected
    assert approved == expected, log
    for obj, approve in CASES:
        name = obj["metadata"]["name"]
        spec_ = obj["spec"]
        ours = spec_["signerName"] == cp.SIGNER or (
            spec_["signerName"] == cp.CLIENT_SIGNER and spec_["username"].startswith("system:bootstrap:")
        )
        pending = ours and not obj["status"]["conditions"]
        if approve:
            assert f"approved {name} from" in log
        elif pending:
            assert f"left pending {name} from" in log, f"{name} must be logged with its reason"
    assert "left pending csr-comma-in-dns from system:node:w1: " in log
    assert "left pending csr-foreign-dns from system:node:w1: DNS evil.example.com is not one of" in log
    assert "DNS w\\061 is not one of" in log, "requester-chosen text is logged literally"
    assert "left pending client-stolen-token from system:bootstrap:abcdef: token abcdef is not cp1's" in log
    renewal = "left pending csr-client-signer from system:node:w1"
    assert renewal not in log, "renewals are the controller-manager's"


@pytest.mark.realtool
def test_approver_script_passes_shellcheck(tmp_path: Path) -> None:
    texts = [cp.approver_script(), cp.enable_script("0" * 64, [cp.APPROVER_SCRIPT]), cp.disable_script()]
    result = shellcheck(tmp_path, {f"s{i}": text for i, text in enumerate(texts)})
    assert result.returncode == 0, result.stdout


@pytest.mark.realtool
def test_approver_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    units = {
        Path(meta.path).name: content
        for meta, content in cp.approver_static_files(cluster())
        if meta.path.endswith((".service", ".timer"))
    }
    assert_units_verify(tmp_path, units, (cp.APPROVER_SCRIPT,), about="csr-approver")


# --- --until-serving: approve, then verify the kubelet's TLS certificate against the cluster CA ----


def issue(ca_key: Any, ca_name: x509.Name, san_ip: str) -> tuple[bytes, bytes, bytes]:
    """A CA certificate and a serving certificate (with its key) for san_ip, as PEM."""
    import datetime

    now = datetime.datetime.now(datetime.UTC)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "system:node:w1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([ip(san_ip)]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return ca.public_bytes(pem), leaf.public_bytes(pem), key_pem


def tls_server(tmp_path: Path, cert: bytes, key: bytes) -> tuple[Any, Any, int]:
    import socket
    import ssl
    import threading

    (tmp_path / "srv.crt").write_bytes(cert)
    (tmp_path / "srv.key").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "srv.crt", tmp_path / "srv.key")
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.settimeout(10)  # openssl may be slow to send its hello on a busy machine
            try:
                with context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return stop, listener, listener.getsockname()[1]


@pytest.mark.realtool
@pytest.mark.parametrize("signed_by_cluster_ca", [True, False])
def test_until_serving_verifies_the_kubelet_certificate(tmp_path: Path, signed_by_cluster_ca: bool) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed (apt-get install openssl)")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_pem, leaf_pem, key_pem = issue(
        ca_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")]), "127.0.0.1"
    )
    other_ca_pem, _, _ = issue(
        ec.generate_private_key(ec.SECP256R1()),
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other")]),
        "127.0.0.1",
    )
    (tmp_path / "ca.crt").write_bytes(ca_pem if signed_by_cluster_ca else other_ca_pem)
    stop, listener, port = tls_server(tmp_path, leaf_pem, key_pem)
    try:
        pending = csr("csr-w1-now", sans=[dns("w1"), dns("elsewhere.example.com")])
        approved, result = run_approver(
            tmp_path, [CASES[0][0], pending], ("--until-serving", "w1", "127.0.0.1", "2"), port=port
        )
    finally:
        stop.set()
        listener.close()
    assert approved == {"csr-good"}
    if signed_by_cluster_ca:
        assert result.returncode == 0, result.stderr
        assert "w1: kubelet serves a certificate from the cluster CA" in result.stdout
    else:
        assert result.returncode == 1
        assert "does not serve a certificate from the cluster CA after 2 s" in result.stderr
        # The reason the node's own request was left pending is part of the error.
        assert "left pending csr-w1-now from system:node:w1: DNS elsewhere.example.com" in result.stderr


def test_approver_names_a_missing_tool(tmp_path: Path) -> None:
    script = tmp_path / "approver.sh"
    missing = str(tmp_path / "no-kubectl")
    script.write_text(cp.approver_script(kubectl=missing))
    result = subprocess.run(["sh", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert f"{missing} is missing: the CSR approver needs kubectl and openssl" in result.stderr


@pytest.mark.realtool
def test_forget_node_deletes_the_node_object_and_never_stops_a_destroy(tmp_path: Path) -> None:
    done, result = run_approver(tmp_path, [], ("--forget-node", "w1"))
    assert result.returncode == 0, result.stderr
    assert done == {"deleted:w1"}
    assert "w1: Node object deleted" in result.stdout
    # An API that does not answer is said, and the destroy goes on.
    done, result = run_approver(tmp_path, [], ("--forget-node", "api-down"))
    assert result.returncode == 0 and done == set()
    assert "warning: api-down: Node object not deleted: The connection to the server" in result.stderr
