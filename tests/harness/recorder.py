"""A MockMonitor that records every RegisterResource request: the graph as the engine sees it.

MockResourceArgs carries neither parent nor dependencies nor options, so the recorder reads
them from the raw request (pulumi-notes.md). Inputs are kept both plain and with the paths of
the values that arrived marked secret, so tests can prove secrets never travel in the clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockMonitor
from pulumi.runtime.sync_await import _ensure_event_loop


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
    outputs: dict[str, Any] = field(default_factory=dict)


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
        return super().RegisterResourceOutputs(request)
