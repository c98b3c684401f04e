"""The address policy: only globally routable addresses, the same answer on every Python >= 3.11.

Ranges where Python versions disagree on `is_global` (3.13 follows the IANA registries more
closely) are pinned here one by one, so a change of Python cannot open or close one silently.
"""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_address, ip_network

import pytest

from watchbot.fetch.addresses import parse_allow_networks, refusal

# (address, the reason refusal gives), for every range the policy names.
REFUSED = [
    # IPv4
    ("0.0.0.0", "the unspecified address"),
    ("0.1.2.3", 'a "this network" address'),
    ("10.0.0.5", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.254", "a private address"),
    ("192.168.1.1", "a private address"),
    ("127.0.0.1", "a loopback address"),
    ("127.255.255.254", "a loopback address"),
    ("169.254.169.254", "a link-local address"),
    ("100.64.0.1", "a carrier-grade NAT (shared) address"),
    ("100.127.255.254", "a carrier-grade NAT (shared) address"),
    ("192.0.0.8", "an IETF protocol address"),  # global on 3.11, not on 3.13
    ("192.0.0.9", "an IETF protocol address"),  # PCP anycast: global on 3.13, refused here
    ("192.0.0.170", "an IETF protocol address"),
    ("192.0.2.1", "a documentation address"),
    ("198.51.100.1", "a documentation address"),
    ("203.0.113.1", "a documentation address"),
    ("198.18.0.1", "a benchmarking address"),
    ("224.0.0.1", "a multicast address"),
    ("224.0.1.1", "a multicast address"),  # is_global is True for this one
    ("239.255.255.250", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "the broadcast address"),
    # IPv6
    ("::", "the unspecified address"),
    ("::1", "a loopback address"),
    ("fe80::1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("fc00::1", "a private (unique local) address"),
    ("fd12:3456::1", "a private (unique local) address"),
    ("fec0::1", "a site-local address"),  # global on 3.11
    ("ff02::1", "a multicast address"),
    ("ff0e::1", "a multicast address"),  # global scope, is_global True
    ("100::1", "a discard-only address"),
    ("2001:db8::1", "a documentation address"),
    ("3fff::1", "a documentation address"),
    ("3fff:fff:ffff::1", "a documentation address"),
    ("2001:2::1", "an IETF protocol address"),
    ("2001:1::1", "an IETF protocol address"),  # global on 3.13
    ("2001:3::1", "an IETF protocol address"),  # global on 3.13
    ("2001:20::1", "an IETF protocol address"),  # global on 3.13
    ("5f00::1", "a segment routing (SRv6) address"),  # global on 3.11
    ("4000::1", "a reserved address"),  # outside 2000::/3, global on 3.11
    # IPv6 forms that carry an IPv4 address are judged by it.
    ("::ffff:127.0.0.1", "an IPv4-mapped IPv6 form of 127.0.0.1 (a loopback address)"),
    ("::ffff:10.0.0.5", "an IPv4-mapped IPv6 form of 10.0.0.5 (a private address)"),
    ("::ffff:169.254.169.254",
     "an IPv4-mapped IPv6 form of 169.254.169.254 (a link-local address)"),
    ("::ffff:0.0.0.0", "an IPv4-mapped IPv6 form of 0.0.0.0 (the unspecified address)"),
    ("::127.0.0.1", "an IPv4-compatible IPv6 form of 127.0.0.1 (a loopback address)"),
    ("::10.0.0.5", "an IPv4-compatible IPv6 form of 10.0.0.5 (a private address)"),
    ("64:ff9b::7f00:1", "a NAT64 form of 127.0.0.1 (a loopback address)"),
    ("64:ff9b::a9fe:a9fe", "a NAT64 form of 169.254.169.254 (a link-local address)"),
    ("64:ff9b:1::a00:5", "a local-use NAT64 form of 10.0.0.5 (a private address)"),
    # RFC 8215 local use is never global, whatever it carries (global on 3.11).
    ("64:ff9b:1::808:808", "a local-use NAT64 address"),
    ("2002:7f00:1::1", "a 6to4 form of 127.0.0.1 (a loopback address)"),
    ("2002:a00:5::1", "a 6to4 form of 10.0.0.5 (a private address)"),
    # Teredo is refused outright, even with a public client (RFC 4380 example: 192.0.2.45).
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "a Teredo tunnel address"),
    ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", "a Teredo tunnel address"),  # client 8.8.8.8
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below shared space
    "100.128.0.0",  # just above
    "172.32.0.1",  # just above 172.16.0.0/12
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "3fff:1000::1",  # just above the documentation range 3fff::/20
    "::ffff:8.8.8.8",  # forms carrying a public IPv4 address
    "::8.8.8.8",
    "64:ff9b::808:808",
    "2002:808:808::1",  # not global on 3.13, which counts all 6to4 as not global
]


@pytest.mark.parametrize(("text", "reason"), REFUSED)
def test_refused(text: str, reason: str) -> None:
    assert refusal(ip_address(text)) == reason


@pytest.mark.parametrize("text", ALLOWED)
def test_allowed(text: str) -> None:
    assert refusal(ip_address(text)) is None


def test_every_named_range_is_refused_from_end_to_end() -> None:
    from watchbot.fetch.addresses import _IPV4_RANGES, _IPV6_RANGES

    for net, _reason in (*_IPV4_RANGES, *_IPV6_RANGES):
        for address in (net.network_address, net.broadcast_address):
            assert refusal(address) is not None, address


def test_the_allow_list_opens_its_networks_only() -> None:
    local = [ip_network("127.0.0.1/32")]
    assert refusal(ip_address("127.0.0.1"), local) is None
    assert refusal(ip_address("127.0.0.2"), local) == "a loopback address"
    assert refusal(ip_address("::1"), local) == "a loopback address"
    # The IPv6 forms of an allowed IPv4 address lead to it, so they are allowed with it.
    assert refusal(ip_address("::ffff:127.0.0.1"), local) is None
    intranet = [ip_network("10.0.0.0/8"), ip_network("fd00::/8")]
    assert refusal(ip_address("10.20.30.40"), intranet) is None
    assert refusal(ip_address("fd00::5"), intranet) is None
    assert refusal(ip_address("192.168.1.1"), intranet) == "a private address"
    # Public addresses stay allowed with an allow-list.
    assert refusal(ip_address("8.8.8.8"), intranet) is None


def test_parse_allow_networks() -> None:
    assert parse_allow_networks("") == ()
    assert parse_allow_networks("  ") == ()
    assert parse_allow_networks("127.0.0.1/32") == (IPv4Network("127.0.0.1/32"),)
    assert parse_allow_networks(" 10.0.0.0/8 ,fd00::/8, 192.168.5.7,") == (
        IPv4Network("10.0.0.0/8"),
        IPv6Network("fd00::/8"),
        IPv4Network("192.168.5.7/32"),
    )


@pytest.mark.parametrize("text", ["10.0.0.0/8, intranet", "10.0.0.1/8", "300.0.0.0/8", "::1/129"])
def test_parse_allow_networks_names_the_bad_entry(text: str) -> None:
    bad = text.split(",")[-1].strip()
    with pytest.raises(ValueError) as info:
        parse_allow_networks(text)
    message = str(info.value)
    assert repr(bad) in message
    assert "\n" not in message
