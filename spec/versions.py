"""Version strings and the Kubernetes version-skew policy."""

from __future__ import annotations

import re

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")


def parse_version(text: str) -> tuple[int, int, int] | None:
    """'1.35.4' -> (1, 35, 4); None when it is not a full x.y.z release version."""
    match = _SEMVER.match(text)
    if not match:
        return None
    major, minor, patch = (int(g) for g in match.groups())
    return major, minor, patch


def minor_of(text: str) -> tuple[int, int]:
    parsed = parse_version(text)
    if parsed is None:
        raise ValueError(f"not a version: {text!r}")
    return parsed[0], parsed[1]


def minor_distance(newer: str, older: str) -> int:
    """How many minors `older` is behind `newer` (negative when it is ahead)."""
    (a_major, a_minor), (b_major, b_minor) = minor_of(newer), minor_of(older)
    if a_major != b_major:
        raise ValueError("major versions differ")
    return a_minor - b_minor


# The skew policy (kubernetes.io/releases/version-skew-policy): kubelet and kube-proxy may be
# up to three minors older than kube-apiserver and never newer.
KUBELET_MAX_MINORS_BEHIND = 3


def version_field(key: str) -> str:
    """The spec field of a config key: cniPlugins -> cni_plugins."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).lower()


def config_key(field: str) -> str:
    """The config key of a spec field: restrict_oom_score_adj -> restrictOomScoreAdj."""
    head, *rest = field.split("_")
    return head + "".join(word.capitalize() for word in rest)
