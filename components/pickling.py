"""A fix for the Python SDK's dynamic providers, needed from a few hundred of them.

`pulumi.dynamic.dynamic.serialize_provider` (SDK 3.x) sorts dictionaries while it pickles a
provider by wrapping `pickle._Pickler._batch_setitems`, and never puts the original back: every
dynamic resource adds one more wrapper around the last, each a stack frame deep, so a program
with about 480 dynamic resources (a 500-node cluster) fails with RecursionError while
serializing the next one. Each of our dynamic resources calls `fresh_pickler()` before it is
registered, so every serialization starts from the standard method (the SDK's sorting wrapper
still applies, once).
"""

from __future__ import annotations

import pickle

_BATCH_SETITEMS = pickle._Pickler._batch_setitems  # type: ignore[attr-defined]


def fresh_pickler() -> None:
    pickle._Pickler._batch_setitems = _BATCH_SETITEMS  # type: ignore[attr-defined]
