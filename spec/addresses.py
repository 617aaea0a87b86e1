"""Address helpers shared by the spec rules and the renderers (certificate SANs)."""

from __future__ import annotations

import ipaddress


def is_ip(value: str) -> bool:
    """True for an IPv4 or IPv6 address (not a network, not a host name)."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
