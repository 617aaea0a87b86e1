"""Addons: CoreDNS, the Kata RuntimeClass and the opt-in smoke test, applied one typed
resource per object (components.api_objects)."""

from __future__ import annotations

import copy
from typing import Any

import pulumi

from components import inherited_depends_on, type_token
from components.api_objects import ClusterSite, k8s_object, object_part
from render import addons as render
from spec.model import ClusterSpec

SKIP_AWAIT = "pulumi.com/skipAwait"


class Addons(pulumi.ComponentResource):
    """Attributes: `coredns` (resources, in apply order), `runtime_classes`, `smoke_test` (the
    Job Pulumi waits for, or None)."""

    def __init__(self, name: str, site: ClusterSite, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(type_token("Addons"), name, None, opts)
        spec = self.spec = site.spec
        child = pulumi.ResourceOptions(
            parent=self, provider=site.provider, depends_on=inherited_depends_on(opts)
        )
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
