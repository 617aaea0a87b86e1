"""A MockMonitor that records every RegisterResource request: the graph as the engine sees it.

MockResourceArgs carries neither parent nor dependencies nor options, so the recorder reads
them from the raw request (pulumi-notes.md). Inputs are kept both plain and with the paths of
the values that arrived marked secret, so tests can prove secrets never travel in the clear.
Like the engine (and unlike MockMonitor), it marks a custom resource's outputs secret when they
are listed in additionalSecretOutputs or their same-named input was secret; those outputs,
their secret keys and the resource id are recorded too.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor, MockResourceArgs, _resolve_callbacks
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await


@dataclass
class Registration:
    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    inputs: dict[str, Any]  # plain values (secrets unwrapped), wire (camelCase) names
    secret_paths: set[str]  # input paths whose value arrived as a secret
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    provider: str
    delete_before_replace: bool
    additional_secret_outputs: list[str]
    ignore_changes: list[str]
    replace_on_changes: list[str]
    protect: bool
    # Custom resources: the provider's state; components: what register_outputs sent.
    outputs: dict[str, Any] = field(default_factory=dict)
    output_secret_paths: set[str] = field(default_factory=set)  # output paths that are secret
    replacement_trigger: Any = None  # the replacement_trigger option, plain
    resource_id: str = ""  # custom resources: the id the provider returned (never secret)
    stack_trace: list[str] = field(default_factory=list)  # its frames' file:// URIs, innermost first


def unwrap(value: Any, path: str, secrets: set[str]) -> Any:
    """Plain copy of a deserialized value, noting where secrets were."""
    if rpc.is_rpc_secret(value):
        secrets.add(path)
        return unwrap(rpc.unwrap_rpc_secret(value), path, secrets)
    if isinstance(value, dict):
        return {k: unwrap(v, f"{path}.{k}" if path else k, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v, f"{path}[{i}]", secrets) for i, v in enumerate(value)]
    return value


def _engine_secrets(
    request: Any, state: dict[str, Any], input_secrets: set[str]
) -> tuple[dict[str, Any], set[str]]:
    """What the engine does and MockMonitor does not: mark outputs secret that are listed in
    additionalSecretOutputs or whose same-named input was secret. Returns (state, secret keys)."""
    secret_inputs = {path.split(".")[0].split("[")[0] for path in input_secrets}
    secret_keys = {k for k in state if k in secret_inputs or k in request.additionalSecretOutputs}
    if not secret_keys:
        return state, set()
    return {k: rpc.wrap_rpc_secret(v) if k in secret_keys else v for k, v in state.items()}, secret_keys


def _plain_trigger(request: Any) -> Any:
    if not request.HasField("replacement_trigger"):
        return None
    holder = type(request.object)()  # a protobuf Struct, to deserialize the Value like any input
    holder.fields["trigger"].CopyFrom(request.replacement_trigger)
    return unwrap(rpc.deserialize_properties(holder)["trigger"], "", set())


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Any) -> None:
        super().__init__(mocks)
        # The SDK calls RegisterResource from a thread pool: requests overlap. Each is numbered
        # when it starts (in the order the program made them, as near as threads allow) and
        # `registrations` lists them in that order, whichever finished first.
        self._numbers = itertools.count()
        self._records: list[tuple[int, Registration]] = []
        self._by_urn: dict[str, Registration] = {}  # a scan per component would be quadratic

    @property
    def registrations(self) -> list[Registration]:
        return [r for _, r in sorted(self._records, key=lambda record: record[0])]

    def RegisterResource(self, request: Any) -> Any:
        if request.type == "pulumi:pulumi:Stack":
            return super().RegisterResource(request)
        number = next(self._numbers)
        # MockMonitor.RegisterResource, with the request's inputs deserialized once and the
        # response serialized once (this runs for every resource: large stacks feel it).
        _ensure_event_loop()
        wire_inputs = rpc.deserialize_properties(request.object)
        secrets: set[str] = set()
        inputs = unwrap(wire_inputs, "", secrets)
        urn = self.make_urn(request.parent, request.type, request.name)
        mock_id, state = self.mocks.new_resource(
            MockResourceArgs(
                typ=request.type,
                name=request.name,
                inputs=wire_inputs,
                provider=request.provider,
                resource_id=request.importId,
                custom=request.custom or False,
                transforms=_resolve_callbacks(request.transforms),
            )
        )
        resource_id = mock_id or ""
        sent, output_secrets = _engine_secrets(request, state, secrets) if request.custom else (state, set())
        obj = _sync_await(rpc.serialize_properties(sent, {}))
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        response = resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=obj)
        # The provider's state as the program sees it (after the wire: numbers are floats).
        outputs = unwrap(rpc.deserialize_properties(obj), "", set()) if request.custom else {}
        registration = Registration(
            type=request.type,
            name=request.name,
            urn=urn,
            parent=request.parent,
            custom=request.custom,
            inputs=inputs,
            secret_paths=secrets,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            provider=request.provider,
            delete_before_replace=request.deleteBeforeReplace,
            additional_secret_outputs=list(request.additionalSecretOutputs),
            ignore_changes=list(request.ignoreChanges),
            replace_on_changes=list(request.replaceOnChanges),
            protect=request.protect,
            replacement_trigger=_plain_trigger(request),
            outputs=outputs,
            output_secret_paths=output_secrets,
            resource_id=resource_id,
            stack_trace=[f.pc.uri for f in request.stackTrace.frames if f.HasField("pc")],
        )
        self._records.append((number, registration))
        self._by_urn[registration.urn] = registration
        return response

    def RegisterResourceOutputs(self, request: Any) -> Any:
        secrets: set[str] = set()
        outputs = unwrap(rpc.deserialize_properties(request.outputs), "", secrets)
        reg = self._by_urn.get(request.urn)
        if reg is not None:
            reg.outputs = outputs
            reg.output_secret_paths = secrets
        return super().RegisterResourceOutputs(request)
