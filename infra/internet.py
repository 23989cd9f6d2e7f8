"""What counts as "the whole internet" for an allowlist: 0.0.0.0/0, but also two /1s, or every
range but the private ones. Standard library only: the config checks and the policy rules (which
the CrossGuard pack imports without the project's dependencies) share it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

# Addresses no internet host has (IANA IPv4 special-purpose registry, RFC 6890, plus multicast and
# the reserved 240/4): CIDRs that cover everything else admit the whole internet.
_NOT_INTERNET = tuple(
    ipaddress.IPv4Network(c)
    for c in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24",
        "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    )
)  # fmt: skip
_EVERYTHING = [ipaddress.IPv4Network("0.0.0.0/0")]


def covers_the_internet(cidrs: Iterable[ipaddress.IPv4Network]) -> bool:
    """True when the CIDRs together admit every internet address: 0.0.0.0/0, two /1s, or
    "everything but the private ranges" all count, as each opens the API to every public host."""
    return list(ipaddress.collapse_addresses([*cidrs, *_NOT_INTERNET])) == _EVERYTHING
