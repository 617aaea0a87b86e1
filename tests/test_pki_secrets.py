"""No private key, token or encryption key appears anywhere that is not a Pulumi secret.

Walks every registration of each preset's Pki: inputs, the outputs the provider returned (marked
secret the way the engine marks them), the component's registered outputs, resource ids and
replacement triggers. A value holding secret material (a PEM private key, any of the generated
keys in PEM or base64, the bootstrap token secret, the encryption key) must sit at a secret path.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest

from mockrun.recorder import Registration
from tests.support.pki import Built, built
from tests.support.specs import PRESET_IDS


def needles(b: Built) -> list[str]:
    """Every secret the Pki generated, in every encoding it is passed around in."""
    keys = [key for _, key in b.certs.values()] + [b.values["service_account_key_pem"]]
    found = [*keys, *(base64.b64encode(k.encode()).decode() for k in keys)]
    found += [b.values["encryption_key"]]
    return found


def leaves(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from leaves(v, f"{path}.{k}" if path else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, value


def is_secret_path(path: str, secret_paths: set[str]) -> bool:
    """A path is secret if it, or a value containing it, arrived wrapped as a secret."""
    return any(path == s or path.startswith(f"{s}.") or path.startswith(f"{s}[") for s in secret_paths)


def holds_secret(value: Any, secrets: list[str]) -> bool:
    text = str(value)
    return "PRIVATE KEY-----" in text or any(s in text for s in secrets)


def leaks(registrations: list[Registration], secrets: list[str]) -> list[str]:
    found = []
    for r in registrations:
        for where, tree, secret_paths in (
            ("input", r.inputs, r.secret_paths),
            ("output", r.outputs, r.output_secret_paths),
        ):
            for path, value in leaves(tree):
                if holds_secret(value, secrets) and not is_secret_path(path, secret_paths):
                    found.append(f"{r.name} {where} {path}")
        if holds_secret(r.resource_id, secrets):
            found.append(f"{r.name} id")
        if r.replacement_trigger is not None and holds_secret(r.replacement_trigger, secrets):
            found.append(f"{r.name} replacement_trigger")
    return found


@pytest.fixture(params=PRESET_IDS)
def b(request: pytest.FixtureRequest) -> Built:
    return built(request.param)


def test_no_secret_travels_in_the_clear(b: Built) -> None:
    secrets = needles(b)
    assert len(secrets) > 2 * len(b.certs)
    assert leaks(b.graph.registrations, secrets) == []


def test_the_secrets_do_travel(b: Built) -> None:
    """The walk sees the material it guards: keys reach the certificate resources and the
    component's outputs (as secrets), so an empty leak list is not an empty search."""
    secrets = needles(b)
    hits = [
        (r.name, path)
        for r in b.graph.registrations
        for path, value in leaves({"in": r.inputs, "out": r.outputs})
        if holds_secret(value, secrets)
    ]
    names = {n for n, _ in hits}
    assert any(n.endswith("-csr") for n in names)
    assert any(n.endswith("-cert") for n in names)
    assert "pki" in names  # the component's registered outputs
    assert any(p.startswith("out.kubeconfigs") for n, p in hits if n == "pki")


def test_public_material_stays_readable(b: Built) -> None:
    """Over-secreting would hide what users need: certificates, expiries."""
    (component,) = [r for r in b.graph.registrations if r.type == "k8s-from-scratch:index:Pki"]
    for key in ("expiries", "certificates", "serviceAccountPublicKey"):
        assert key in component.outputs
        assert not is_secret_path(key, component.output_secret_paths), key
    for key in ("privateKeys", "serviceAccountKey", "encryptionKey", "kubeconfigs"):
        assert is_secret_path(key, component.output_secret_paths), key


def test_the_walk_reports_a_plain_secret() -> None:
    """The checker itself: a private key in a plain input or output, or in an id, is reported."""
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n"

    def reg(**kw: Any) -> Registration:
        base: dict[str, Any] = dict(
            type="t",
            name="r",
            urn="u",
            parent="",
            custom=True,
            inputs={},
            secret_paths=set(),
            dependencies=[],
            property_dependencies={},
            provider="",
            delete_before_replace=False,
            additional_secret_outputs=[],
            ignore_changes=[],
            replace_on_changes=[],
            protect=False,
        )
        return Registration(**{**base, **kw})

    assert leaks([reg(inputs={"a": {"b": [pem]}})], []) == ["r input a.b[0]"]
    assert leaks([reg(inputs={"a": {"b": [pem]}}, secret_paths={"a"})], []) == []
    assert leaks([reg(outputs={"k": "xx-token-xx"})], ["token"]) == ["r output k"]
    assert leaks([reg(resource_id="token")], ["token"]) == ["r id"]
