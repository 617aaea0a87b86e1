"""The lab's binary mirror as a stack sees it: where it lies, its URL and the checksums it serves.

Lab hosts have no internet: they fetch every artifact from the mirror on the lab bridge, built from
our own toolchain (lab/mirror.py builds it), so the checksums are the mirror's, not upstream's.
"""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

from spec.checksums import is_checksum
from spec.model import ClusterSpec

MIRROR_PORT = 8088
MANIFEST = "checksums.json"  # at the mirror's root: {"artifact/version/arch": "sha256:<hex>"}


def mirror_dir(spec: ClusterSpec) -> Path:
    """K8SFS_LAB_MIRROR_DIR (tests and `make e2e` point it elsewhere), else <lab.workDir>/mirror."""
    return Path(os.environ.get("K8SFS_LAB_MIRROR_DIR", f"{spec.lab.work_dir}/mirror"))


def gateway(subnet: str) -> str:
    """The bridge's address: the subnet's first host (hosts are numbered from .11)."""
    return str(next(ipaddress.ip_network(subnet, strict=False).hosts()))


def mirror_url(spec: ClusterSpec) -> str:
    return f"http://{gateway(spec.lab.subnet)}:{MIRROR_PORT}"


def read_checksums(out: Path) -> dict[str, str]:
    """The mirror's {"artifact/version/arch": "sha256:<hex>"}, as lab/mirror.py wrote them."""
    data = json.loads((out / MANIFEST).read_text())
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and is_checksum(v) for k, v in data.items()
    ):
        raise ValueError(f"{out / MANIFEST} is not a checksum map")
    return data
