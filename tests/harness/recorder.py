"""A MockMonitor that records every RegisterResource request: the graph as the engine sees it.

MockResourceArgs carries neither parent nor dependencies nor options, so the recorder reads
them from the raw request (pulumi-notes.md). Inputs are kept both plain and with the paths of
the values that arrived marked secret, so tests can prove secrets never travel in the clear.
Like the engine (and unlike MockMonitor), it marks a custom resource's outputs secret when they
are listed in additionalSecretOutputs or their same-named input was secret; those outputs,
their secret keys and the resource id are recorded too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
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
    request: Any, response: Any, input_secrets: set[str]
) -> tuple[Any, dict[str, Any], set[str]]:
    """What the engine does and MockMonitor does not: mark outputs secret that are listed in
    additionalSecretOutputs or whose same-named input was secret."""
    state = rpc.deserialize_properties(response.object)
    plain_state = unwrap(state, "", set())
    secret_inputs = {path.split(".")[0].split("[")[0] for path in input_secrets}
    secret_keys = {k for k in plain_state if k in secret_inputs or k in request.additionalSecretOutputs}
    if not secret_keys:
        return response, plain_state, set()
    marked = {k: rpc.wrap_rpc_secret(v) if k in secret_keys else v for k, v in state.items()}
    obj = _sync_await(rpc.serialize_properties(marked, {}))
    return (
        resource_pb2.RegisterResourceResponse(urn=response.urn, id=response.id, object=obj),
        plain_state,
        secret_keys,
    )


def _plain_trigger(request: Any) -> Any:
    if not request.HasField("replacement_trigger"):
        return None
    holder = type(request.object)()  # a protobuf Struct, to deserialize the Value like any input
    holder.fields["trigger"].CopyFrom(request.replacement_trigger)
    return unwrap(rpc.deserialize_properties(holder)["trigger"], "", set())


class RecordingMonitor(MockMonitor):
    def __init__(self, mocks: Any) -> None:
        super().__init__(mocks)
        self.registrations: list[Registration] = []

    def RegisterResource(self, request: Any) -> Any:
        if request.type != "pulumi:pulumi:Stack":
            _ensure_event_loop()
            secrets: set[str] = set()
            inputs = unwrap(rpc.deserialize_properties(request.object), "", secrets)
            response = super().RegisterResource(request)
            outputs: dict[str, Any] = {}
            output_secrets: set[str] = set()
            if request.custom:
                response, outputs, output_secrets = _engine_secrets(request, response, secrets)
            self.registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
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
                    resource_id=response.id,
                )
            )
            return response
        return super().RegisterResource(request)

    def RegisterResourceOutputs(self, request: Any) -> Any:
        secrets: set[str] = set()
        outputs = unwrap(rpc.deserialize_properties(request.outputs), "", secrets)
        for reg in self.registrations:
            if reg.urn == request.urn:
                reg.outputs = outputs
                reg.output_secret_paths = secrets
        return super().RegisterResourceOutputs(request)
