"""pulumi-kubernetes under the mocks: what the provider would refuse, and CNI manifests served
offline.

A helm.v3.Release registers with its chart reference and values; nothing renders under the
mocks, so the handler checks what Helm would refuse before rendering (an unresolvable chart
reference, an unpinned version) and answers with a deployed release's status.
components.cni fetches canal/weave release manifests where Pulumi runs;
tests have no network, so the fetcher is replaced by one that serves small stand-ins with the
shape of upstream's manifests (the objects and fields render.cni.manifests edits), written here
from that shape, not copied. file:// URLs are read for real.
"""

from __future__ import annotations

import re
from typing import Any

from components import cni as cni_component
from mockrun.mocks import resource_handler

CANAL_URL = re.compile(
    r"^https://raw\.githubusercontent\.com/projectcalico/calico/v([0-9.]+)/manifests/canal\.yaml$"
)
WEAVE_URL = re.compile(
    r"^https://github\.com/weaveworks/weave/releases/download/v([0-9.]+)/weave-daemonset-k8s-1\.11\.yaml$"
)

CANAL_SHAPE = """\
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: canal
  namespace: kube-system
---
kind: ConfigMap
apiVersion: v1
metadata:
  name: canal-config
  namespace: kube-system
data:
  typha_service_name: "none"
  canal_iface: ""
  masquerade: "true"
  veth_mtu: "0"
  cni_network_config: |-
    {"name": "k8s-pod-network", "cniVersion": "0.3.1", "plugins": [{"type": "calico", "mtu": __CNI_MTU__,
     "ipam": {"type": "host-local", "subnet": "usePodCidr"}}, {"type": "portmap"}]}
  net-conf.json: |
    {
      "Network": "10.244.0.0/16",
      "Backend": {
        "Type": "vxlan"
      }
    }
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: felixconfigurations.crd.projectcalico.org
spec:
  group: crd.projectcalico.org
  names: {kind: FelixConfiguration, plural: felixconfigurations, singular: felixconfiguration}
  scope: Cluster
  versions:
    - name: v1
      served: true
      storage: true
      schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
status:
  acceptedNames: {kind: "", plural: ""}
  conditions: null
  storedVersions: null
---
kind: DaemonSet
apiVersion: apps/v1
metadata:
  name: canal
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: canal}
  template:
    metadata:
      labels: {k8s-app: canal}
    spec:
      hostNetwork: true
      serviceAccountName: canal
      initContainers:
        - name: install-cni
          image: quay.io/calico/cni:v{version}
      containers:
        - name: calico-node
          image: quay.io/calico/node:v{version}
          env:
            - {name: DATASTORE_TYPE, value: kubernetes}
            - {name: CALICO_NETWORKING_BACKEND, value: none}
            - {name: FELIX_IPTABLESREFRESHINTERVAL, value: "60"}
        - name: kube-flannel
          image: docker.io/flannel/flannel:v0.26.7
          command: ["/opt/bin/flanneld", "--ip-masq", "--kube-subnet-mgr"]
      volumes:
        - name: flannel-cfg
          configMap: {name: canal-config}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: calico-kube-controllers
  namespace: kube-system
spec:
  selector:
    matchLabels: {k8s-app: calico-kube-controllers}
  template:
    metadata:
      labels: {k8s-app: calico-kube-controllers}
    spec:
      containers:
        - name: calico-kube-controllers
          image: quay.io/calico/kube-controllers:v{version}
"""

WEAVE_SHAPE = """\
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ServiceAccount
    metadata: {name: weave-net, namespace: kube-system}
  - apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: weave-net}
    rules:
      - apiGroups: ['']
        resources: [pods, namespaces, nodes]
        verbs: [get, list, watch]
  - apiVersion: apps/v1
    kind: DaemonSet
    metadata: {name: weave-net, namespace: kube-system}
    spec:
      selector:
        matchLabels: {name: weave-net}
      template:
        metadata:
          labels: {name: weave-net}
        spec:
          hostNetwork: true
          serviceAccountName: weave-net
          initContainers:
            - name: weave-init
              image: 'weaveworks/weave-kube:{version}'
              command: [/home/weave/init.sh]
          containers:
            - name: weave
              image: 'weaveworks/weave-kube:{version}'
              command: [/home/weave/launch.sh]
              env:
                - {name: INIT_CONTAINER, value: "true"}
            - name: weave-npc
              image: 'weaveworks/weave-npc:{version}'
"""

fetched: list[str] = []  # every URL the program asked for, for tests to check


def offline_fetch(url: str) -> str:
    fetched.append(url)
    if url.startswith("file://"):
        return cni_component.fetch_url(url)
    for pattern, shape in ((CANAL_URL, CANAL_SHAPE), (WEAVE_URL, WEAVE_SHAPE)):
        match = pattern.match(url)
        if match:
            return shape.replace("{version}", match.group(1))
    raise cni_component.ManifestFetchError(f"no network under the mocks: nothing serves {url}")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@resource_handler("kubernetes:helm.sh/v3:Release")
def _release(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    chart = inputs.get("chart") or ""
    repo = (inputs.get("repositoryOpts") or {}).get("repo")
    _require(bool(chart), f"{name}: chart is required")
    # Helm resolves a bare chart name only through a repository; OCI refs and paths stand alone.
    standalone = chart.startswith(("oci://", "/", "./"))
    _require(standalone or bool(repo), f"{name}: chart {chart!r} needs repositoryOpts.repo")
    _require(
        not (standalone and repo), f"{name}: {chart!r} is a full reference; repositoryOpts.repo is ignored"
    )
    _require(chart.startswith("/") or bool(inputs.get("version")), f"{name}: an unpinned chart version")
    _require(
        bool(inputs.get("name")) and bool(inputs.get("namespace")), f"{name}: release name and namespace"
    )
    status = {
        "name": inputs["name"],
        "namespace": inputs["namespace"],
        "chart": chart.rsplit("/", 1)[-1],
        "version": inputs.get("version") or "",
        "status": "deployed",
        "revision": 1,
    }
    return f"{inputs['namespace']}/{inputs['name']}", {**inputs, "status": status}
