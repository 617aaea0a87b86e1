"""CNI/network combinations the spec refuses (or warns about) before anything is touched."""

from __future__ import annotations

from typing import Any

import pytest

from spec import SpecError, load_spec
from tests.support.specs import SSH_SECRET, THREE_NODES, config_raw


def load(cni: dict[str, Any], **top: Any) -> list[Any]:
    _, warnings = load_spec(config_raw(THREE_NODES, cni=cni, **top), "test", SSH_SECRET)
    return warnings


def refused(cni: dict[str, Any], **top: Any) -> dict[str, str]:
    with pytest.raises(SpecError) as err:
        load(cni, **top)
    return {p.path: p.message for p in err.value.problems}


@pytest.mark.parametrize(
    ("cni", "top", "path", "words"),
    [
        (
            {"name": "calico"},
            {"network": {"podCidr": "10.42.0.0/27", "nodeCidrMaskSize": 28}},
            "network.podCidr",
            "block",
        ),
        ({"name": "calico", "mtu": 600, "backend": "vxlan"}, {}, "cni.mtu", "550 bytes"),
        ({"name": "cilium", "mtu": 600}, {}, "cni.mtu", "encapsulation"),
        ({"name": "weave", "mtu": 680}, {}, "cni.mtu", "556 bytes"),
        ({"name": "none"}, {"addons": {"smokeTest": True}}, "addons.smokeTest", "can never pass"),
        ({"name": "cilium", "chartRepository": "ftp://x"}, {}, "cni.chartRepository", "neither a URL"),
        (
            {"name": "cilium", "chartRepository": "charts.example"},
            {},
            "cni.chartRepository",
            "neither a URL",
        ),
        ({"name": "weave", "manifestUrl": "oci://x/y"}, {}, "cni.manifestUrl", "neither a URL"),
        (
            {"name": "canal", "chartRepository": "https://x"},
            {},
            "cni.chartRepository",
            "not an option of cni 'canal'",
        ),
        (
            {"name": "flannel", "manifestUrl": "https://x"},
            {},
            "cni.manifestUrl",
            "not an option of cni 'flannel'",
        ),
        (  # flannel is rendered here: there is no chart to fetch
            {"name": "flannel", "chartRepository": "https://x"},
            {},
            "cni.chartRepository",
            "not an option of cni 'flannel'",
        ),
        ({"name": "flannel", "backend": "ipip"}, {}, "cni.backend", ""),
        ({"name": "canal", "backend": "host-gw"}, {}, "cni.backend", ""),
    ],
)
def test_refused(cni: dict[str, Any], top: dict[str, Any], path: str, words: str) -> None:
    problems = refused(cni, **top)
    assert path in problems, problems
    assert words in problems[path]


def test_calico_pool_as_large_as_a_block_is_accepted() -> None:
    load({"name": "calico"}, network={"podCidr": "10.42.0.0/26", "nodeCidrMaskSize": 28})


def test_mtu_just_enough_for_the_encapsulation_is_accepted() -> None:
    load({"name": "calico", "backend": "vxlan", "mtu": 626})
    load({"name": "calico", "backend": "bgp", "mtu": 576})


@pytest.mark.parametrize(
    ("cni", "top", "path"),
    [
        ({"name": "calico", "backend": "bgp"}, {}, "cni.backend"),
        ({"name": "cilium", "backend": "native"}, {}, "cni.backend"),
        ({"name": "flannel", "backend": "host-gw", "mtu": 9000}, {}, "cni.mtu"),
        ({"name": "weave"}, {"kubeProxy": {"mode": "nftables"}}, "kubeProxy.mode"),
        ({"name": "cilium", "chartRepository": "http://charts.lan/"}, {}, "cni.chartRepository"),
        ({"name": "canal", "manifestUrl": "http://files.lan/canal.yaml"}, {}, "cni.manifestUrl"),
    ],
)
def test_warned(cni: dict[str, Any], top: dict[str, Any], path: str) -> None:
    assert path in {w.path for w in load(cni, **top)}


@pytest.mark.parametrize(
    "cni",
    [
        {"name": "flannel"},
        {"name": "calico", "chartRepository": "oci://registry.lan/charts"},
        {"name": "cilium", "chartRepository": "/srv/charts"},
        {"name": "canal", "manifestUrl": "file:///srv/canal.yaml"},
        {"name": "weave", "manifestUrl": "/srv/weave.yaml"},
    ],
)
def test_air_gapped_sources_accepted(cni: dict[str, Any]) -> None:
    assert not [w for w in load(cni) if w.path.startswith("cni.") and w.path != "cni.name"]


def test_defaults_raise_no_cni_warning() -> None:
    assert not [w for w in load({"name": "flannel"}) if w.path.startswith(("cni", "network", "kubeProxy"))]


def test_calico_ipip_cannot_carry_ipv6() -> None:
    # load_spec does not admit IPv6 node masks yet: run the rules on an adjusted spec.
    from dataclasses import replace

    from spec.problems import Problems
    from spec.validate import validate
    from tests.support.specs import cni_spec

    spec = cni_spec({"name": "calico", "backend": "ipip"})
    v6 = replace(
        spec.network,
        pod_cidr="fd00:10:244::/56",
        service_cidr="fd00:10:96::/112",
        dns_service_ip="fd00:10:96::a",
    )
    problems = Problems()
    validate(replace(spec, network=v6), problems)
    assert any(p.path == "cni.backend" and "IPv4 only" in p.message for p in problems.errors)
    problems = Problems()
    validate(replace(spec, network=v6, cni=replace(spec.cni, backend="vxlan")), problems)
    assert not any(p.path == "cni.backend" for p in problems.errors)
