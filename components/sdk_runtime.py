"""Two costs of the Python SDK that grow with every resource, cut by the entry point.

Measured on a no-op `pulumi up` of a 500-node bench stack (682 resources; docs/scale.md), the
program, not the engine, was what the engine waited for:

- **Debug messages, one blocking RPC each.** The SDK logs four or five debug lines per resource
  (`pulumi.log.debug`: "Preparing resource", "Registering resource", ...), each a synchronous
  `Log` call to the engine whether or not anyone shows debug output: about 3 000 round trips,
  1.2 s of the program's time. `quiet_sdk_debug` drops them unless K8SFS_SDK_DEBUG=1 (then
  `pulumi up --debug` shows them as before). Our own code logs no debug lines.
- **The wait for outstanding outputs, quadratic.** Once its RPCs are done, the SDK waits for every
  pending Output with `asyncio.wait(FIRST_COMPLETED)` over all of them, again after each one
  completes: a callback added to and removed from every pending task per completion, 1.5 s at
  500 nodes. `gather_outstanding_outputs` installs a wait that does the same in one pass per
  batch of outputs.

The wait replaces a private SDK function, so it is installed only for the SDK version it was
written against (`SDK_VERSION`, the pin in requirements.txt; a test fails when they differ).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import os
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi.log
from pulumi.runtime import stack as sdk_stack
from pulumi.runtime.settings import SETTINGS, _get_rpc_manager

SDK_VERSION = "3.272.0"
DEBUG_ENV = "K8SFS_SDK_DEBUG"


def _sdk_is_known() -> bool:
    return importlib.metadata.version("pulumi") == SDK_VERSION


def quiet_sdk_debug(environ: Mapping[str, str] = os.environ) -> bool:
    """Drops debug messages (all of them the SDK's) unless DEBUG_ENV is 1; True if it did."""
    if environ.get(DEBUG_ENV) == "1" or getattr(pulumi.log.debug, "quiet", False):
        return False

    def debug(*_args: Any, **_kwargs: Any) -> None:
        return None

    debug.quiet = True  # type: ignore[attr-defined]
    pulumi.log.debug = debug
    return True


async def wait_for_rpcs(await_all_outstanding_tasks: bool = True) -> None:
    """The SDK's wait for the end of a program, linear: its RPCs one by one (newest first, as the
    SDK does), then every outstanding Output together, repeated while either kind appears.
    The first failure is raised, as with the SDK's (an RPC's, chained to its cause)."""
    rpcs = _get_rpc_manager()
    while True:
        while rpcs.rpcs:
            await asyncio.sleep(0)  # let the RPCs just queued start
            try:
                await rpcs.rpcs.pop()
            except Exception as err:
                if rpcs.unhandled_exception is not None:
                    raise err from rpcs.unhandled_exception.with_traceback(rpcs.exception_traceback)
                raise
        if rpcs.unhandled_exception is not None:
            raise rpcs.unhandled_exception.with_traceback(rpcs.exception_traceback)
        while await_all_outstanding_tasks:
            with SETTINGS.lock:
                outputs = list(SETTINGS.outputs)
                SETTINGS.outputs.clear()
            if not outputs:
                break
            await asyncio.gather(*outputs)
        if not rpcs.rpcs:
            return


def gather_outstanding_outputs() -> bool:
    """Installs `wait_for_rpcs` in place of the SDK's; True if it did (a known SDK)."""
    if not _sdk_is_known() or sdk_stack.wait_for_rpcs is wait_for_rpcs:
        return False
    sdk_stack.wait_for_rpcs = wait_for_rpcs
    return True
