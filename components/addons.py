"""Addons: CoreDNS, the Kata RuntimeClass and the opt-in smoke test, applied as typed
pulumi-kubernetes resources (one resource per object: previews name each object that changes).

`k8s_object` turns a plain object into the matching typed resource; components.cni applies the
objects of upstream release manifests with it too. Typed resources (unlike the provider-side
yaml.v2/helm.v4 components) preview while the cluster is unreachable, e.g. before it exists.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components import inherited_depends_on, type_token
from render import addons as render
from spec.model import ClusterSpec

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
SKIP_AWAIT = "pulumi.com/skipAwait"


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
        raise ValueError(f"no typed resource for {key[0]} {key[1]}: add it to components.addons.KINDS")
    fields = {_snake(k): v for k, v in obj.items() if k not in ("apiVersion", "kind")}
    resource: pulumi.CustomResource = KINDS[key](name, **fields, opts=opts)
    return resource


def object_part(obj: dict[str, Any]) -> str:
    """A resource-name part for an object: kind and name, e.g. deployment-coredns."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name'].replace(':', '-')}"


class Addons(pulumi.ComponentResource):
    """Attributes: `coredns` (resources, in apply order), `runtime_classes`, `smoke_test` (the
    Job Pulumi waits for, or None)."""

    def __init__(
        self,
        name: str,
        spec: ClusterSpec,
        provider: k8s.Provider,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(type_token("Addons"), name, None, opts)
        self.spec = spec
        child = pulumi.ResourceOptions(parent=self, provider=provider, depends_on=inherited_depends_on(opts))
        self.coredns: list[pulumi.CustomResource] = []
        if spec.addons.coredns:
            self.coredns = self._coredns(name, spec, child)
        self.runtime_classes = [
            k8s_object(f"{name}-{object_part(obj)}", obj, child) for obj in render.runtime_class_objects(spec)
        ]
        self.smoke_test: pulumi.CustomResource | None = None
        smoke = render.smoke_objects(spec)
        if smoke:
            self.smoke_test = self._smoke(name, smoke, child)
        self.register_outputs(
            {
                "clusterDomain": spec.network.cluster_domain,
                "dnsServiceIp": spec.network.dns_service_ip,
                "runtimeClasses": [render.KATA_RUNTIME_CLASS] if self.runtime_classes else [],
                "smokeTest": self.smoke_test is not None,
            }
        )

    def _coredns(
        self, name: str, spec: ClusterSpec, child: pulumi.ResourceOptions
    ) -> list[pulumi.CustomResource]:
        created: list[pulumi.CustomResource] = []
        for obj in render.coredns_objects(spec):
            deps: list[pulumi.Resource] = []
            if obj["kind"] == "Deployment":
                # Its pods need the account, its permissions and the Corefile at start.
                deps = list(created)
                if spec.cni.name == "none":
                    # Without a CNI the pods stay Pending (and say why): waiting would only time out.
                    obj = copy.deepcopy(obj)
                    obj["metadata"].setdefault("annotations", {})[SKIP_AWAIT] = "true"
            opts = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=deps))
            created.append(k8s_object(f"{name}-{object_part(obj)}", obj, opts))
        return created

    def _smoke(
        self, name: str, objs: list[dict[str, Any]], child: pulumi.ResourceOptions
    ) -> pulumi.CustomResource:
        namespace, *workloads = objs
        ns = k8s_object(f"{name}-smoke-{object_part(namespace)}", namespace, child)
        in_ns = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=[ns]))
        server = [
            k8s_object(f"{name}-smoke-{object_part(obj)}", obj, in_ns)
            for obj in workloads
            if obj["kind"] != "Job"
        ]
        (check,) = [obj for obj in workloads if obj["kind"] == "Job"]
        # The check resolves names through CoreDNS and calls the server: both must be up first.
        after = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[ns, *server, *self.coredns])
        )
        return k8s_object(f"{name}-smoke-{object_part(check)}", check, after)
