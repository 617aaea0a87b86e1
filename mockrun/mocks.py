"""Mocks that dispatch by resource type and invoke token to faithful per-provider handlers.

Handlers get plain inputs (secrets unwrapped) with wire names and return the state the real
provider would: computed outputs included, invalid inputs rejected with an exception, as the
provider would fail the deployment.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pulumi

from mockrun.recorder import unwrap
from render.bootstrap import ISSUED_AT_COMMAND

ResourceHandler = Callable[[str, dict[str, Any]], tuple[str, dict[str, Any]]]
CallHandler = Callable[[dict[str, Any]], dict[str, Any]]
Handler = TypeVar("Handler", ResourceHandler, CallHandler)

RESOURCE_HANDLERS: dict[str, ResourceHandler] = {}
CALL_HANDLERS: dict[str, CallHandler] = {}


def _registrar(table: dict[str, Handler], keys: tuple[str, ...]) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        table.update(dict.fromkeys(keys, fn))
        return fn

    return register


def resource_handler(*types: str) -> Callable[[ResourceHandler], ResourceHandler]:
    """Registers the decorated function as the mock provider of these resource types."""
    return _registrar(RESOURCE_HANDLERS, types)


def call_handler(*tokens: str) -> Callable[[CallHandler], CallHandler]:
    """Registers the decorated function as the mock of these invokes."""
    return _registrar(CALL_HANDLERS, tokens)


@resource_handler("command:remote:Command")
def _command(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # The real provider runs the command and returns its output; nothing runs under mocks.
    return f"{name}-id", {**inputs, "stdout": "", "stderr": ""}


@resource_handler("command:local:Command")
def _local_command(name: str, inputs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    # When a bootstrap token was issued is the time now, as `date` says it; nothing else runs.
    stdout = str(int(time.time())) if inputs.get("create") == ISSUED_AT_COMMAND else ""
    return f"{name}-id", {**inputs, "stdout": stdout, "stderr": ""}


# Opt-in (the bench): providers that make random material (keys, certificates, serials, random
# strings, the time a token was issued) answer the same resource type + name + inputs with the
# same state within a process, as the real providers do for a resource already in the state.
# Two evaluations then differ only where OUR program's inputs differ. Set K8SFS_MOCK_MEMO=1 or
# `mocks.MEMO_ENABLED = True`.
MEMO_PREFIXES = ("tls:", "random:", "command:local:")
MEMO_ENABLED = os.environ.get("K8SFS_MOCK_MEMO") == "1"
_memo: dict[tuple[str, str, str], tuple[str, dict[str, Any]]] = {}


def _memo_key(typ: str, name: str, inputs: dict[str, Any]) -> tuple[str, str, str]:
    return typ, name, json.dumps(inputs, sort_keys=True, default=str)


class DispatchMocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        inputs = unwrap(args.inputs, "", set())
        handler = RESOURCE_HANDLERS.get(args.typ)
        if handler is None:
            return f"{args.name}-id", inputs
        if not (MEMO_ENABLED and args.typ.startswith(MEMO_PREFIXES)):
            return handler(args.name, inputs)
        key = _memo_key(args.typ, args.name, inputs)
        if key not in _memo:
            _memo[key] = handler(args.name, inputs)
        resource_id, state = _memo[key]
        return resource_id, dict(state)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        handler = CALL_HANDLERS.get(args.token)
        if handler is None:
            raise NotImplementedError(f"no mock for invoke {args.token}: add a call_handler")
        return handler(unwrap(args.args, "", set())), []
