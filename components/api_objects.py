"""Kubernetes objects as typed pulumi-kubernetes resources, and where cluster-level components
apply them.

Typed resources, one per object (unlike the provider-side yaml.v2/helm.v4 components), preview
while the cluster is unreachable, e.g. before it exists, and previews name each object that
changes. Addons, Bootstrap and Cni apply plain objects (render/'s, or an upstream release
manifest's) with `k8s_object`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from spec.model import ClusterSpec


@dataclass(frozen=True)
class ClusterSite:
    """Where a cluster-level component applies objects: the spec, and the provider that reaches
    the cluster's API."""

    spec: ClusterSpec
    provider: k8s.Provider


# The kinds render/ produces, by (apiVersion, kind). Anything else is a programming error.
KINDS: dict[tuple[str, str], Any] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("batch/v1", "Job"): k8s.batch.v1.Job,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("node.k8s.io/v1", "RuntimeClass"): k8s.node.v1.RuntimeClass,
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): k8s.apiextensions.v1.CustomResourceDefinition,
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def k8s_object(name: str, obj: dict[str, Any], opts: pulumi.ResourceOptions) -> pulumi.CustomResource:
    """The typed resource for one plain Kubernetes object (top-level fields as arguments)."""
    key = (obj["apiVersion"], obj["kind"])
    if key not in KINDS:
        if "/" in key[0] and set(obj) <= {"apiVersion", "kind", "metadata", "spec"}:
            # A kind of an API group (a CRD's, say): the generic resource has the same type token.
            generic = k8s.apiextensions.CustomResource(
                name,
                api_version=key[0],
                kind=key[1],
                metadata=obj["metadata"],
                spec=obj.get("spec"),
                opts=opts,
            )
            return generic
        raise ValueError(f"no typed resource for {key[0]} {key[1]}: add it to components.api_objects.KINDS")
    fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    resource: pulumi.CustomResource = KINDS[key](name, **fields, opts=opts)
    return resource


def object_part(obj: dict[str, Any]) -> str:
    """A resource-name part for an object: kind and name, e.g. deployment-coredns."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name'].replace(':', '-')}"
