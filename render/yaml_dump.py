"""YAML text of structured configs (kubeconfig, KubeletConfiguration, ...): safe_dump's output,
through libyaml's emitter when PyYAML has it (several times faster; a 500-node stack dumps
thousands of documents)."""

from __future__ import annotations

from typing import Any

import yaml

_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def dump(doc: Any, **options: Any) -> str:
    """yaml.safe_dump(doc, **options), as text."""
    text = yaml.dump(doc, Dumper=_DUMPER, **options)
    assert isinstance(text, str)
    return text
