"""Which addresses the bot may connect to: only globally routable ones, unless allow-listed.

Pure functions, no I/O. The rule is "is it globally routable", not "is it private": anything
special-purpose (loopback, link-local, shared, documentation, reserved, multicast...) is refused.

Python's `is_global` changed between versions (3.13 follows the IANA registries more closely), so
every range whose answer matters is named in the tables below and decided here; `is_global` only
decides what the tables leave out. That keeps the answer the same on any Python >= 3.11.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = ["Address", "Network", "parse_allow_networks", "refusal"]

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network

# Checked in order: the first network holding the address gives the reason.
_IPV4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), reason)
    for net, reason in [
        ("0.0.0.0/32", "the unspecified address"),
        ("0.0.0.0/8", 'a "this network" address'),
        ("10.0.0.0/8", "a private address"),
        ("100.64.0.0/10", "a carrier-grade NAT (shared) address"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address"),
        # All of it, although 3.13 counts .9 and .10 (anycast for PCP and TURN) as global:
        # nothing a link points to lives there.
        ("192.0.0.0/24", "an IETF protocol address"),
        ("192.0.2.0/24", "a documentation address"),
        ("192.168.0.0/16", "a private address"),
        ("198.18.0.0/15", "a benchmarking address"),
        ("198.51.100.0/24", "a documentation address"),
        ("203.0.113.0/24", "a documentation address"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address"),
    ]
)

_IPV6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), reason)
    for net, reason in [
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("100::/64", "a discard-only address"),
        # Teredo is refused outright rather than judged by its client address: the client is
        # whoever sits behind some NAT, reached through a relay of someone else's choosing, and
        # no web server lives there today. Python also counts it as not global (in 2001::/23).
        ("2001::/32", "a Teredo tunnel address"),
        ("2001:db8::/32", "a documentation address"),
        ("3fff::/20", "a documentation address"),  # RFC 9637; Python 3.11 counts it as global
        # All of it, although 3.13 counts a few blocks inside as global: none serves pages.
        ("2001::/23", "an IETF protocol address"),
        ("5f00::/16", "a segment routing (SRv6) address"),
        ("fc00::/7", "a private (unique local) address"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address"),
        ("ff00::/8", "a multicast address"),
    ]
)

_MAPPED = IPv6Network("::ffff:0:0/96")
_COMPATIBLE = IPv6Network("::/96")  # after :: and ::1, which sit inside it
_NAT64 = IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = IPv6Network("64:ff9b:1::/48")
_6TO4 = IPv6Network("2002::/16")


def refusal(address: Address, allow: Sequence[Network] = ()) -> str | None:
    """None when the bot may connect to `address`, else why not, as a noun phrase.

    The reason reads after "127.0.0.1 is ..." or "it resolves to 127.0.0.1, ...". An address
    inside one of the `allow` networks is allowed whatever it is.
    """
    if any(address in net for net in allow):
        return None
    if isinstance(address, IPv4Address):
        return _ipv4_refusal(address)
    return _ipv6_refusal(address, allow)


def _ipv4_refusal(address: IPv4Address) -> str | None:
    for net, reason in _IPV4_RANGES:
        if address in net:
            return reason
    return _not_global(address)


def _ipv6_refusal(address: IPv6Address, allow: Sequence[Network]) -> str | None:
    # The unspecified and loopback addresses come first: both sit inside the IPv4-compatible range.
    for net, reason in _IPV6_RANGES[:2]:
        if address in net:
            return reason

    # Forms that carry an IPv4 address are judged by it, since that is where packets end up.
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        form, inner = embedded
        why = refusal(inner, allow)
        if why is not None:
            return f"{form} form of {inner} ({why})"
        if address in _NAT64_LOCAL:
            # RFC 8215: local-use, never globally routed, and the operator chooses where the
            # IPv4 address sits (we read the last 32 bits). Refused even with a public inside.
            return "a local-use NAT64 address"
        return None

    for net, reason in _IPV6_RANGES[2:]:
        if address in net:
            return reason
    return _not_global(address)


def _embedded_ipv4(address: IPv6Address) -> tuple[str, IPv4Address] | None:
    """The IPv4 address an IPv6 address carries, after the name of its form, if it carries one."""
    if address in _MAPPED:
        return "an IPv4-mapped IPv6", _last_32_bits(address)
    if address in _COMPATIBLE:
        return "an IPv4-compatible IPv6", _last_32_bits(address)
    if address in _NAT64:
        return "a NAT64", _last_32_bits(address)
    if address in _NAT64_LOCAL:
        return "a local-use NAT64", _last_32_bits(address)
    if address in _6TO4:
        return "a 6to4", IPv4Address((int(address) >> 80) & 0xFFFFFFFF)
    return None


def _last_32_bits(address: IPv6Address) -> IPv4Address:
    return IPv4Address(int(address) & 0xFFFFFFFF)


def _not_global(address: Address) -> str | None:
    # What the tables leave out. `is_global` can be True for some multicast, hence the check.
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def parse_allow_networks(text: str) -> tuple[Network, ...]:
    """Networks from comma-separated CIDRs ("127.0.0.1/32, 10.0.0.0/8"); "" gives none.

    A bare address is a network of one. A bad entry raises ValueError naming it.
    """
    networks = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry))
        except ValueError as exc:
            raise ValueError(f"not a network in CIDR form: {entry!r} ({exc})") from None
    return tuple(networks)
