"""The guarded client against real aiohttp servers on 127.0.0.1 (and 127.0.0.2).

Hostile URLs run with an empty allow-list and a server that counts what it receives: it must
receive nothing. The rest allow exactly 127.0.0.1/32, so 127.0.0.2 stays refused.
"""

from __future__ import annotations

import asyncio
import email.utils
import gzip
import json
import logging
import resource
import struct
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from ipaddress import ip_network

import pytest
from aiohttp import web

from tests.waiting import until
from watchbot.fetch import FetchFailed, FetchRefused, GuardedClient

LOCAL = (ip_network("127.0.0.1/32"),)
#: How each /drip response ended, "cut" (the client went away) or "whole", oldest first.
DRIPS: list[str] = []
PAGE = "<!doctype html><title>Hello</title><p>A page.</p>"


def make_gzip_bomb(gib: int = 1) -> bytes:
    """A valid gzip stream of `gib` GiB of zeros, about 1 MB, made without compressing it all.

    After a full flush, compressing the same MiB again gives the same bytes, so one compressed
    MiB is repeated; only the CRC needs the whole length, and it is cheap.
    """
    mib = bytes(1 << 20)
    count = gib << 10
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    first = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(mib) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(count):
        crc = zlib.crc32(mib, crc)
    final_empty_block = b"\x03\x00"
    trailer = struct.pack("<II", crc, (count << 20) & 0xFFFFFFFF)
    return first + again * (count - 1) + final_empty_block + trailer


@pytest.fixture(scope="module")
def gzip_bomb() -> bytes:
    return make_gzip_bomb()


@dataclass
class Server:
    """An aiohttp server that records every request it receives."""

    runner: web.AppRunner
    host: str
    port: int
    requests: list[web.Request] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"


StartServer = Callable[..., Awaitable[Server]]


@pytest.fixture
async def start_server() -> AsyncIterator[StartServer]:
    servers: list[Server] = []

    async def start(routes: web.RouteTableDef | None = None, host: str = "127.0.0.1") -> Server:
        received: list[web.Request] = []

        @web.middleware
        async def count(request: web.Request, handler):
            received.append(request)
            return await handler(request)

        app = web.Application(middlewares=[count])
        if routes is not None:
            app.add_routes(routes)
        runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        server = Server(runner, host, runner.addresses[0][1], received)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.runner.cleanup()


def site_routes(bomb: bytes = b"") -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/page")
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html", headers={"X-Seen-By": "test"})

    @routes.get("/echo")
    async def echo(request: web.Request) -> web.Response:
        wanted = ("User-Agent", "Accept", "Accept-Encoding", "Cookie")
        return web.json_response({name: request.headers.get(name) for name in wanted})

    @routes.get("/cookie")
    async def cookie(request: web.Request) -> web.Response:
        response = web.Response(text="set")
        response.set_cookie("session", "secret")
        return response

    @routes.get("/moved")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("/found")  # relative

    @routes.get("/found")
    async def found(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"http://127.0.0.1:{request.url.port}/page")  # absolute

    @routes.get("/old-feed")
    async def old_feed(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("old-feed-2")

    @routes.get("/old-feed-2")
    async def old_feed_2(request: web.Request) -> web.Response:
        raise web.HTTPPermanentRedirect("/page")

    @routes.get("/loop/{n}")
    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"/loop/{int(request.match_info['n']) + 1}")

    @routes.get("/elsewhere")
    async def elsewhere(request: web.Request) -> web.Response:
        raise web.HTTPFound(request.query["to"])

    @routes.get("/drip")
    async def drip(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)
        try:
            for _ in range(100):  # 20 s: far past the client's deadline, yet bounded
                await response.write(b"<p>more</p>\n")
                await asyncio.sleep(0.2)
        except (ConnectionError, asyncio.CancelledError):
            DRIPS.append("cut")  # the client went away before the end
            raise
        DRIPS.append("whole")
        return response

    @routes.get("/big")
    async def big(request: web.Request) -> web.Response:
        return web.Response(body=b"a" * 3000, content_type="text/html")

    @routes.get("/big-stream")
    async def big_stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/html"})
        await response.prepare(request)  # chunked: no Content-Length to judge by
        for _ in range(30):
            await response.write(b"b" * 100)
        return response

    @routes.get("/bomb")
    async def bomb_page(request: web.Request) -> web.Response:
        return web.Response(
            body=bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
        )

    @routes.get("/encoded/{encoding}")
    async def encoded(request: web.Request) -> web.Response:
        encoding = request.match_info["encoding"]
        data = PAGE.encode()
        body = {
            "gzip": gzip.compress(data),
            "deflate": zlib.compress(data),  # zlib-wrapped, as RFC 9110 says
            "raw-deflate": zlib.compress(data, wbits=-zlib.MAX_WBITS),  # as some servers send
        }[encoding]
        name = "deflate" if encoding == "raw-deflate" else encoding
        return web.Response(
            body=body, headers={"Content-Type": "text/html", "Content-Encoding": name}
        )

    @routes.get("/odd/{what}")
    async def odd(request: web.Request) -> web.Response:
        what = request.match_info["what"]
        if what == "no-location":
            return web.Response(status=302)
        if what == "zstd":
            return web.Response(body=b"(zstd)", headers={"Content-Encoding": "zstd"})
        if what == "gzip-twice":  # two headers: one list, gzip applied twice
            from multidict import CIMultiDict
            headers = CIMultiDict([("Content-Encoding", "gzip"), ("Content-Encoding", "gzip")])
            return web.Response(body=gzip.compress(gzip.compress(b"<title>x</title>")), headers=headers)
        return web.Response(body=b"not gzip at all", headers={"Content-Encoding": "gzip"})

    @routes.get("/image")
    async def image(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + bytes(5000), content_type="image/png")

    @routes.get("/missing")
    async def missing(request: web.Request) -> web.Response:
        raise web.HTTPNotFound(text="no such page")

    @routes.get("/busy")
    async def busy(request: web.Request) -> web.Response:
        raise web.HTTPServiceUnavailable(headers={"Retry-After": "120"})

    @routes.get("/busy-until")
    async def busy_until(request: web.Request) -> web.Response:
        when = email.utils.formatdate(time.time() + 60, usegmt=True)
        raise web.HTTPServiceUnavailable(headers={"Retry-After": when})

    @routes.get("/etag")
    async def etag(request: web.Request) -> web.Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return web.Response(status=304, headers={"ETag": '"v1"'})
        return web.Response(text=PAGE, content_type="text/html", headers={"ETag": '"v1"'})

    return routes


@pytest.fixture
async def site(start_server: StartServer, gzip_bomb: bytes) -> Server:
    return await start_server(site_routes(gzip_bomb))


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., GuardedClient]]:
    made: list[GuardedClient] = []

    def make(**options) -> GuardedClient:
        options.setdefault("user_agent", "watchbot-test/1.0 (+https://example.org/bot)")
        client = GuardedClient(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


def fetch_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "watchbot.fetch" and record.levelno == logging.WARNING
    ]


async def assert_refused(
    client: GuardedClient, url: str, expected: str, caplog: pytest.LogCaptureFixture
) -> str:
    """Fetching `url` is refused with `expected` in the reason, logged once; the reason."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="watchbot.fetch"):
        with pytest.raises(FetchRefused) as info:
            await client.fetch(url)
    reason = info.value.reason
    assert str(info.value) == reason
    assert expected in reason
    assert fetch_warnings(caplog) == [reason]
    return reason


# --- Hostile URLs, nothing allowed -----------------------------------------------------------


HOSTILE = [
    ("http://127.0.0.1:{port}/",
     "refused http://127.0.0.1:{port}/: 127.0.0.1 is a loopback address"),
    ("http://2130706433:{port}/", "it resolves to 127.0.0.1, a loopback address"),
    ("http://0177.0.0.1:{port}/", "it resolves to 127.0.0.1, a loopback address"),
    ("http://0x7f.1:{port}/", "it resolves to 127.0.0.1, a loopback address"),
    ("http://0x7f000001:{port}/", "it resolves to 127.0.0.1, a loopback address"),
    ("http://127.1:{port}/", "it resolves to 127.0.0.1, a loopback address"),
    ("http://127.0.0.1.:{port}/", "it resolves to 127.0.0.1, a loopback address"),
    ("http://localhost:{port}/", "localhost always means this machine (RFC 6761)"),
    ("http://LOCALHOST:{port}/", "localhost always means this machine"),
    ("http://localhost.:{port}/", "localhost. always means this machine"),
    ("http://foo.localhost:{port}/", "foo.localhost always means this machine"),
    ("http://[::1]:{port}/", "::1 is a loopback address"),
    ("http://[::ffff:127.0.0.1]:{port}/",
     "is an IPv4-mapped IPv6 form of 127.0.0.1 (a loopback address)"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
    ("http://0.0.0.0:{port}/", "0.0.0.0 is the unspecified address"),
    ("http://[fe80::1%25lo]:{port}/", "is a link-local address"),
    ("ftp://127.0.0.1:{port}/", "only http and https links are fetched"),
    ("file:///etc/passwd", "refused file:///etc/passwd: only http and https links are fetched"),
    ("gopher://127.0.0.1:{port}/_GET", "only http and https links are fetched"),
    ("http:///page", "it has no host"),
    ("http://[::1/", "refused http://[::1/: it is not a valid URL"),
    ("http://1.2.3.4.5/", "1.2.3.4.5 is not a valid IPv4 address"),
]


@pytest.mark.parametrize(("url", "expected"), HOSTILE)
async def test_hostile_urls_are_refused_without_a_connection(
    url: str, expected: str, start_server: StartServer, clients, caplog
) -> None:
    server = await start_server(site_routes())
    url = url.format(port=server.port)
    await assert_refused(clients(), url, expected.format(port=server.port), caplog)
    assert server.requests == []


def resolving_to(*addresses: str) -> Callable[[str], Awaitable[list[str]]]:
    async def resolve(host: str) -> list[str]:
        return list(addresses)

    return resolve


@pytest.mark.parametrize(
    ("addresses", "expected"),
    [
        (["127.0.0.1"], "refused http://news.example.com:{port}/: it resolves to 127.0.0.1, "
                        "a loopback address"),
        (["10.0.0.5"], "it resolves to 10.0.0.5, a private address"),
        # One bad address refuses the name: the connector may pick any of them.
        (["93.184.215.14", "10.0.0.5"], "it resolves to 10.0.0.5, a private address"),
        (["2606:4700:4700::1111", "::1"], "it resolves to ::1, a loopback address"),
    ],
)
async def test_names_resolving_to_refused_addresses_are_refused(
    addresses: list[str], expected: str, start_server: StartServer, clients, caplog
) -> None:
    server = await start_server(site_routes())
    client = clients(resolve=resolving_to(*addresses))
    url = f"http://news.example.com:{server.port}/"
    await assert_refused(client, url, expected.format(port=server.port), caplog)
    assert server.requests == []


async def test_the_default_resolver_judges_what_the_system_answers() -> None:
    # Through getaddrinfo itself, with hosts it answers without a DNS server.
    from watchbot.fetch.client import _AddressRefused, _getaddrinfo, _GuardedResolver

    resolver = _GuardedResolver(_getaddrinfo, ())
    for host in ("127.0.0.1", "0x7f.1", "2130706433"):
        with pytest.raises(_AddressRefused, match="it resolves to 127.0.0.1, a loopback address"):
            await resolver.resolve(host, 80, family=0)
    with pytest.raises(_AddressRefused, match="always means this machine"):
        await resolver.resolve("localhost", 80, family=0)
    allowed = await _GuardedResolver(_getaddrinfo, LOCAL).resolve("127.0.0.1", 80, family=0)
    assert [(r["host"], r["port"]) for r in allowed] == [("127.0.0.1", 80)]


# --- Allowed: 127.0.0.1/32 only --------------------------------------------------------------


async def test_a_page(site: Server, clients) -> None:
    async with clients(allow=LOCAL) as client:
        fetched = await client.fetch(f"{site.base}/page", accept={"text/html"})
    assert fetched.status == 200
    assert fetched.body == PAGE.encode()
    assert fetched.url == fetched.final_url == f"{site.base}/page"
    assert fetched.content_type == "text/html"
    assert fetched.charset == "utf-8"
    assert fetched.headers["x-seen-by"] == "test"  # case-insensitive
    assert not fetched.truncated
    assert fetched.redirects == ()
    assert fetched.permanent_redirect is None


async def test_what_the_server_receives(site: Server, clients) -> None:
    client = clients(allow=LOCAL, user_agent="watchbot/0.1 (+https://example.org/about)")
    await client.fetch(f"{site.base}/cookie")
    fetched = await client.fetch(
        f"{site.base}/echo", accept={"text/html", "application/xhtml+xml", "application/json"}
    )
    sent = json.loads(fetched.body)
    assert sent["User-Agent"] == "watchbot/0.1 (+https://example.org/about)"
    assert sent["Accept"] == "application/json, application/xhtml+xml, text/html"
    expected = "gzip, deflate"
    assert sent["Accept-Encoding"] == expected
    assert sent["Cookie"] is None  # no cookie kept from the fetch before


async def test_a_name_is_looked_up_once_and_connected_to_as_checked(
    site: Server, start_server: StartServer, clients
) -> None:
    # A rebinding name: the first answer is allowed, later ones are not. There is one lookup,
    # and the connection goes to the address it gave.
    other = await start_server(site_routes(), host="127.0.0.2")
    answers = [["127.0.0.1"], ["127.0.0.2"], ["127.0.0.2"]]
    asked: list[str] = []

    async def resolve(host: str) -> list[str]:
        asked.append(host)
        return answers[len(asked) - 1]

    client = clients(allow=LOCAL, resolve=resolve)
    fetched = await client.fetch(f"http://news.example.com:{site.port}/page")
    assert fetched.body == PAGE.encode()
    assert asked == ["news.example.com"]
    assert len(site.requests) == 1
    assert site.requests[0].host == f"news.example.com:{site.port}"
    assert other.requests == []


async def test_a_redirect_chain_is_followed_and_recorded(site: Server, clients) -> None:
    client = clients(allow=LOCAL)
    fetched = await client.fetch(f"{site.base}/moved")
    assert fetched.redirects == ((301, f"{site.base}/found"), (302, f"{site.base}/page"))
    assert fetched.final_url == f"{site.base}/page"
    assert fetched.url == f"{site.base}/moved"
    assert fetched.body == PAGE.encode()
    assert fetched.permanent_redirect is None  # one hop was temporary

    moved_feed = await client.fetch(f"{site.base}/old-feed")
    assert [status for status, _ in moved_feed.redirects] == [301, 308]
    assert moved_feed.permanent_redirect == f"{site.base}/page"


async def test_a_redirect_to_a_refused_address_is_never_connected(
    site: Server, start_server: StartServer, clients, caplog
) -> None:
    other = await start_server(site_routes(), host="127.0.0.2")
    target = f"{other.base}/page"
    url = f"{site.base}/elsewhere?to={target}"
    reason = await assert_refused(
        clients(allow=LOCAL), url,
        f"refused {target} (redirected from {url}): 127.0.0.2 is a loopback address", caplog,
    )
    assert reason.startswith("refused")
    assert len(site.requests) == 1
    assert other.requests == []


async def test_a_redirect_to_another_scheme_is_refused(site: Server, clients, caplog) -> None:
    url = f"{site.base}/elsewhere?to=file:///etc/passwd"
    await assert_refused(clients(allow=LOCAL), url, "only http and https links are fetched", caplog)


async def test_too_many_redirects(site: Server, clients, caplog) -> None:
    client = clients(allow=LOCAL, max_redirects=3)
    url = f"{site.base}/loop/0"
    await assert_refused(client, url, f"refused {url}: it redirects more than 3 times", caplog)
    assert len(site.requests) == 4  # the first request and three redirects followed


async def test_one_deadline_covers_a_body_that_never_ends(site: Server, clients) -> None:
    # The server sends a little every 0.2 s for 20 s: a deadline per read would never fire.
    DRIPS.clear()
    client = clients(allow=LOCAL, timeout=1)
    with pytest.raises(FetchFailed) as info:
        await client.fetch(f"{site.base}/drip")
    assert str(info.value) == f"{site.base}/drip took longer than 1 s"
    # Cut by the client, the server then sees it gone, long before the end of its body.
    await until(lambda: DRIPS, "the server to see the client go")
    assert DRIPS == ["cut"]


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
async def test_a_body_over_the_cap(path: str, site: Server, clients) -> None:
    client = clients(allow=LOCAL, max_bytes=1000)
    with pytest.raises(FetchFailed) as info:
        await client.fetch(site.base + path)
    assert info.value.reason == f"{site.base}{path} is larger than 1000 bytes"
    assert info.value.status is None

    fetched = await client.fetch(site.base + path, truncate=True)
    assert fetched.truncated
    assert len(fetched.body) == 1000
    fetched = await client.fetch(site.base + path, max_bytes=5000)
    assert not fetched.truncated
    assert len(fetched.body) == 3000


async def test_a_gzip_bomb_stays_within_the_cap(site: Server, clients, gzip_bomb: bytes) -> None:
    assert len(gzip_bomb) < 2_000_000  # for 1 GiB inflated
    client = clients(allow=LOCAL)
    max_rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(FetchFailed, match="is larger than 1000000 bytes"):
        await client.fetch(f"{site.base}/bomb")
    fetched = await client.fetch(f"{site.base}/bomb", truncate=True)
    assert fetched.truncated
    assert fetched.body == bytes(1_000_000)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - max_rss_kib
    assert grown_kib < 100 * 1024


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "raw-deflate"])
async def test_compressed_bodies_are_decompressed(encoding: str, site: Server, clients) -> None:
    fetched = await clients(allow=LOCAL).fetch(f"{site.base}/encoded/{encoding}")
    assert fetched.body == PAGE.encode()


async def test_a_wrong_content_type_fails_before_the_body(site: Server, clients) -> None:
    client = clients(allow=LOCAL)
    with pytest.raises(FetchFailed) as info:
        await client.fetch(f"{site.base}/image", accept={"text/html", "application/xhtml+xml"})
    assert info.value.reason == f"{site.base}/image is image/png, not a page"
    with pytest.raises(FetchFailed, match="is text/html, not a feed"):
        await client.fetch(f"{site.base}/page", accept={"application/atom+xml"})


async def test_http_errors_carry_the_status(site: Server, clients) -> None:
    client = clients(allow=LOCAL)
    with pytest.raises(FetchFailed) as info:
        await client.fetch(f"{site.base}/missing")
    assert info.value.reason == f"{site.base}/missing answered 404 Not Found"
    assert (info.value.status, info.value.retry_after) == (404, None)

    with pytest.raises(FetchFailed) as info:
        await client.fetch(f"{site.base}/busy")
    assert info.value.reason == (
        f"{site.base}/busy answered 503 Service Unavailable (retry after 120 s)"
    )
    assert (info.value.status, info.value.retry_after) == (503, 120)

    with pytest.raises(FetchFailed) as info:
        await client.fetch(f"{site.base}/busy-until")
    assert info.value.status == 503
    assert 50 < info.value.retry_after <= 60


async def test_a_conditional_request_returns_304(site: Server, clients) -> None:
    client = clients(allow=LOCAL)
    first = await client.fetch(f"{site.base}/etag")
    assert (first.status, first.headers["ETag"]) == (200, '"v1"')
    again = await client.fetch(f"{site.base}/etag", headers={"If-None-Match": '"v1"'},
                               accept={"text/html"})
    assert (again.status, again.body) == (304, b"")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/odd/no-location", "answered 302 without a Location"),
        ("/odd/zstd", "is encoded as 'zstd', which is not supported"),
        ("/odd/gzip-twice", "is encoded as 'gzip, gzip', which is not supported"),
        ("/odd/bad-gzip", "is not valid gzip"),
    ],
)
async def test_odd_responses_fail(path: str, expected: str, site: Server, clients) -> None:
    with pytest.raises(FetchFailed) as info:
        await clients(allow=LOCAL).fetch(site.base + path)
    assert info.value.reason == f"{site.base}{path} {expected}"


async def test_a_failure_after_a_redirect_names_both_urls(site: Server, clients) -> None:
    url = f"{site.base}/elsewhere?to=/missing"
    with pytest.raises(FetchFailed) as info:
        await clients(allow=LOCAL).fetch(url)
    assert info.value.reason == (
        f"{site.base}/missing (redirected from {url}) answered 404 Not Found"
    )


async def test_legacy_numeric_forms_stay_refused_when_allowed(
    site: Server, clients, caplog
) -> None:
    url = f"http://2130706433:{site.port}/page"
    await assert_refused(
        clients(allow=LOCAL), url, "2130706433 is 127.0.0.1 written in a legacy numeric form",
        caplog,
    )
    assert site.requests == []


async def test_a_server_that_is_not_there(site: Server, clients) -> None:
    port = site.port
    await site.runner.cleanup()
    with pytest.raises(FetchFailed) as info:
        await clients(allow=LOCAL).fetch(f"http://127.0.0.1:{port}/page")
    assert info.value.reason == (
        f"http://127.0.0.1:{port}/page could not be reached (connection refused)"
    )


async def test_proxies_in_the_environment_are_ignored(
    site: Server, start_server: StartServer, clients, caplog, monkeypatch
) -> None:
    proxy = await start_server(site_routes())
    monkeypatch.setenv("HTTP_PROXY", proxy.base)
    monkeypatch.setenv("all_proxy", proxy.base)
    with caplog.at_level(logging.WARNING, logger="watchbot.fetch"):
        client = clients(allow=LOCAL)
        fetched = await client.fetch(f"{site.base}/page")
    assert fetched.body == PAGE.encode()
    assert proxy.requests == []
    assert len(site.requests) == 1
    warnings = fetch_warnings(caplog)
    assert sum("ALL_PROXY, HTTP_PROXY ignored for fetching links" in w for w in warnings) == 1
    assert warnings.count("fetching links may reach these networks: 127.0.0.1/32") == 1
