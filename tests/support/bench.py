"""What the bench's result tests share."""

from __future__ import annotations

from typing import Any


def mocks_size(nodes: int = 10) -> dict[str, Any]:
    """One size's mocks figures, as bench.run.measure_sizes records them."""
    return {
        "nodes": nodes,
        "seconds": 1.0,
        "cpu_seconds": 1.0,
        "peak_mb": 100.0,
        "resources": 242,
        "host_steps": 93,
        "load": [0.1, 0.1],
    }
