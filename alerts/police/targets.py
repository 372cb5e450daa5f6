"""Where a push subscription may point: never back into this host or its cloud metadata.

A subscription's URL is chosen by a police client, and the platform then POSTs to it
from inside the compound's network: left open, a client could aim pushes at the
platform's own services (Redis, the database, ``169.254.169.254``). The rule:

- with ``PoliceSettings.push_hosts`` set (``SHOUWANG_POLICE__PUSH_HOSTS='["10.20.0.0/16",
  "viid.police.example", "*.gaj.example"]'``): the URL's host must be one of them — an
  IP inside a listed network, or a listed name (``*.`` for any subdomain);
- without it: any host whose address (a literal IP, or every address its name
  resolves to) is not loopback, link-local, unspecified, multicast or reserved.
  Private networks are allowed: a public-security network is one.

Example:
    >>> push_target_problem("http://127.0.0.1:6379/", [])[:48]
    'host 127.0.0.1 is a loopback address (127.0.0.1)'
    >>> push_target_problem("https://10.20.1.5/hook", ["10.20.0.0/16"]) is None
    True
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

IP = ipaddress.IPv4Address | ipaddress.IPv6Address


def push_target_problem(url: str, allowed: Sequence[str]) -> str | None:
    """Why pushes may not go to ``url``, or None when they may."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    if not host:
        return "the URL has no host"
    literal = _ip(host)
    if allowed:
        if any(_matches(host, literal, entry) for entry in allowed):
            return None
        return (
            f"host {host} is not one of the push hosts this platform allows "
            "(SHOUWANG_POLICE__PUSH_HOSTS); ask the platform's operator"
        )
    if literal is not None:
        addresses = [literal]
    else:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except (OSError, UnicodeError):
            return f"host {host} does not resolve from this platform"
        addresses = [a for a in (_ip(str(i[4][0])) for i in infos) if a is not None]
    for addr in addresses:
        kind = _forbidden(addr)
        if kind:
            return (
                f"host {host} is a {kind} address ({addr}): pushes may not go back into this "
                "host or its local network; an operator can allow it in "
                "SHOUWANG_POLICE__PUSH_HOSTS"
            )
    return None


def _ip(host: str) -> IP | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _forbidden(addr: IP) -> str:
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    for kind, hit in (
        ("loopback", addr.is_loopback),
        ("link-local", addr.is_link_local),
        ("unspecified", addr.is_unspecified),
        ("multicast", addr.is_multicast),
        ("reserved", addr.is_reserved),
    ):
        if hit:
            return kind
    return ""


def _matches(host: str, literal: IP | None, entry: str) -> bool:
    entry = entry.strip().lower().rstrip(".")
    if literal is not None:
        try:
            return literal in ipaddress.ip_network(entry, strict=False)
        except ValueError:
            return False
    if entry.startswith("*."):
        return host.endswith(entry[1:])
    return host == entry
