"""Cni: the chosen pod network, applied to the cluster with pulumi-kubernetes.

flannel is rendered here (render/cni/flannel.py) and applied one typed resource per object.
calico (Tigera operator) and cilium are Helm releases of their upstream charts at the
pinned version (helm.v3.Release: Helm renders client-side during preview, so a preview works
before the cluster exists; helm.v4.Chart and yaml.v2.ConfigGroup are rendered by the provider
against the cluster and fail then, pulumi-kubernetes#3027). canal and weave come from their
upstream release manifests, fetched by version where Pulumi runs, adapted by
render.cni.manifests and applied one typed resource per object. `none` applies nothing and says
why nodes stay NotReady. Nothing upstream is copied into this repository.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components import inherited_depends_on, type_token
from components.api_objects import ClusterSite, k8s_object, object_part
from render import cni as render_cni
from render.cni import manifests
from spec.model import ClusterSpec

Fetcher = Callable[[str], str]
FETCH_TIMEOUT_SECONDS = 60
RELEASE_TIMEOUT_SECONDS = 900  # CNI images are pulled on every node before the release is ready
RELEASE_MAX_HISTORY = 10  # Helm keeps one Secret per revision
WORKLOAD_KINDS = ("DaemonSet", "Deployment", "StatefulSet", "Job")


class ManifestFetchError(RuntimeError):
    pass


def fetch_url(url: str) -> str:
    """The manifest's text; https://, http:// and file:// (validation allows nothing else)."""
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
            return str(response.read().decode("utf-8"))
    except (OSError, urllib.error.URLError) as err:
        raise ManifestFetchError(
            f"cannot fetch the CNI manifest {url}: {err}. Where Pulumi runs without internet access, "
            "mirror the file and set cni.manifestUrl to it (https:// or an absolute path)"
        ) from err


class Cni(pulumi.ComponentResource):
    """The chosen CNI's objects. Attributes: `plan` (render.cni.CniPlan), `notice` (text the
    stack should export as `cniNotice`, or None), `resources` (what to depend on). `fetch` reads
    a release manifest by URL (the mocks serve them offline)."""

    def __init__(
        self,
        name: str,
        site: ClusterSite,
        opts: pulumi.ResourceOptions | None = None,
        fetch: Fetcher = fetch_url,
    ) -> None:
        spec = site.spec
        plan = render_cni.plan(spec)
        # Fetch and adapt before registering anything: a missing or changed manifest is an error
        # of this run, not a half-applied CNI.
        objects = manifests.manifest_objects(spec, fetch(plan.manifest_url)) if plan.manifest_url else []
        super().__init__(type_token("Cni"), name, None, opts)
        self.spec = spec
        self.plan = plan
        self.notice: str | None = "\n".join(plan.notices) or None
        for notice in plan.notices:
            pulumi.log.warn(notice, resource=self)
        child = pulumi.ResourceOptions(
            parent=self, provider=site.provider, depends_on=inherited_depends_on(opts)
        )
        self.resources: list[pulumi.Resource] = []
        if plan.chart is not None:
            self._chart(name, plan.chart, child)
        elif plan.manifest_url is not None:
            self._manifest(name, spec, objects, child)
        elif plan.objects:
            self._manifest(name, spec, list(plan.objects), child)
        self.register_outputs(
            {"cni": spec.cni.name, "podCidr": spec.network.pod_cidr, "notice": self.notice or ""}
        )

    def _chart(self, name: str, chart: render_cni.ChartPlan, child: pulumi.ResourceOptions) -> None:
        prerequisites = [k8s_object(f"{name}-{object_part(obj)}", obj, child) for obj in chart.prerequisites]
        source = chart.source
        release = k8s.helm.v3.Release(
            f"{name}-{chart.release}",
            chart=source.chart,
            version=source.version,
            repository_opts=(
                k8s.helm.v3.RepositoryOptsArgs(repo=source.repository) if source.repository else None
            ),
            name=chart.release,
            namespace=chart.namespace,
            values=chart.values,
            timeout=RELEASE_TIMEOUT_SECONDS,
            max_history=RELEASE_MAX_HISTORY,
            # Helm records the release in its namespace first: the namespace must exist.
            opts=pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=prerequisites)),
        )
        self.resources = [*prerequisites, release]

    def _manifest(
        self, name: str, spec: ClusterSpec, objects: list[dict], child: pulumi.ResourceOptions
    ) -> None:
        config: list[pulumi.Resource] = []
        if spec.cni.name == "weave" and spec.cni.encryption:
            password = random.RandomPassword(
                f"{name}-weave-password", length=32, special=False, opts=pulumi.ResourceOptions(parent=self)
            )
            config.append(
                k8s.core.v1.Secret(
                    f"{name}-weave-password",
                    metadata={"name": manifests.WEAVE_PASSWORD_SECRET, "namespace": "kube-system"},
                    type="Opaque",
                    string_data={manifests.WEAVE_PASSWORD_KEY: password.result},
                    opts=child,
                )
            )
        parts = [object_part(obj) for obj in objects]
        duplicates = sorted({p for p in parts if parts.count(p) > 1})
        if duplicates:
            raise manifests.ManifestShapeError(f"{spec.cni.name} manifest repeats objects: {duplicates}")
        workloads = [obj for obj in objects if obj["kind"] in WORKLOAD_KINDS]
        for obj in objects:
            if obj["kind"] not in WORKLOAD_KINDS:
                config.append(k8s_object(f"{name}-{object_part(obj)}", obj, child))
        # Pods start with their ServiceAccount, RBAC, ConfigMaps and Secrets in place: apply those
        # first, so the rollout Pulumi waits for is not a crash loop.
        after_config = pulumi.ResourceOptions.merge(child, pulumi.ResourceOptions(depends_on=list(config)))
        self.resources = [
            *config,
            *(k8s_object(f"{name}-{object_part(obj)}", obj, after_config) for obj in workloads),
        ]
