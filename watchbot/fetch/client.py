"""The HTTP client for fetching what strangers link to, guarded so it cannot be turned inward.

Every hop of every fetch is checked before a connection is made: the scheme, the host, and each
address the host resolves to (`addresses.refusal`). The check and the connection share one lookup:
the resolver given to aiohttp's connector is the one that checks, so a name cannot resolve to a
public address for the check and a private one for the connection (DNS rebinding). Hosts that
aiohttp never resolves (IP literals) are checked before the request.

Time and size are bounded too: one deadline covers the whole fetch, and bodies are read and
decompressed by hand, never beyond the cap, so a gzip bomb stays small in memory.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import ipaddress
import logging
import os
import re
import socket
import time
import zlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from ipaddress import IPv4Address

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from watchbot.fetch.addresses import Network, refusal

__all__ = ["FetchError", "FetchFailed", "FetchRefused", "Fetched", "GuardedClient", "Resolve"]

log = logging.getLogger("watchbot.fetch")

Resolve = Callable[[str], Awaitable[list[str]]]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT = frozenset({301, 308})
# No br: only brotli >= 1.2 can cap its output per call (which bombs need), and servers fall
# back to gzip for clients that do not ask for br.
_ENCODINGS = "gzip, deflate"
_CHUNK = 64 * 1024
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")
_PAGE_TYPES = frozenset({"text/html", "application/xhtml+xml"})
_FEED_TYPES = frozenset({
    "application/atom+xml", "application/rss+xml", "application/rdf+xml", "application/feed+json",
    "application/json", "application/xml", "text/xml",
})


class FetchError(Exception):
    """A fetch that did not happen or did not succeed; `reason` is one line a person can read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason


class FetchRefused(FetchError):
    """The guard said no (scheme, host, address, too many redirects): nothing was sent there."""


class FetchFailed(FetchError):
    """The fetch was tried and failed: network error, time, HTTP error status, size, type."""

    def __init__(
        self, reason: str, *, status: int | None = None, retry_after: float | None = None,
        content_type: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.status = status  # the HTTP status, for HTTP errors
        self.retry_after = retry_after  # seconds, when the server said so in Retry-After
        self.content_type = content_type  # set when the answer was of a type not accepted


@dataclass(frozen=True)
class Fetched:
    """A response, read whole (or up to the cap when truncating was allowed)."""

    url: str  # as asked
    final_url: str  # after redirects
    status: int  # 200, 304 (conditional requests are the caller's business), ...
    headers: Mapping[str, str]  # the final hop's response headers, case-insensitive
    body: bytes  # decompressed, at most max_bytes
    truncated: bool  # the body was longer than max_bytes and was cut
    content_type: str  # lower-case, without parameters: "text/html"
    charset: str | None  # from Content-Type, if any
    redirects: tuple[tuple[int, str], ...] = ()  # (status, absolute target URL) per hop followed

    @property
    def permanent_redirect(self) -> str | None:
        """The final URL when every hop was permanent (301/308): where a feed now lives."""
        if self.redirects and all(status in _PERMANENT for status, _ in self.redirects):
            return self.final_url
        return None


@dataclass(frozen=True)
class _Request:
    """One call of `fetch`, as the helpers below need it."""

    url: str
    accept: frozenset[str] | None
    headers: Mapping[str, str]
    max_bytes: int
    truncate: bool


class _AddressRefused(Exception):
    """Raised by the resolver inside aiohttp; `fetch` turns it into FetchRefused with the URL."""


class _GuardedResolver(AbstractResolver):
    """Resolves a name and refuses it whole if any of its addresses is refused.

    The addresses returned are the ones checked, and the connector connects to those only.
    """

    def __init__(self, resolve: Resolve, allow: Sequence[Network]) -> None:
        self._resolve = resolve
        self._allow = tuple(allow)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if _is_localhost(host):  # `fetch` refuses these first; this is the second lock
            raise _AddressRefused(_LOCALHOST_REASON.format(host=host))
        addresses = [ipaddress.ip_address(text) for text in await self._resolve(host)]
        # One refused address refuses the name: the connector may try any of them.
        for address in addresses:
            why = refusal(address, self._allow)
            if why is not None:
                raise _AddressRefused(f"it resolves to {address}, {why}")
        results: list[ResolveResult] = [
            {
                "hostname": host,
                "host": str(address),
                "port": port,
                "family": socket.AF_INET if address.version == 4 else socket.AF_INET6,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            }
            for address in dict.fromkeys(addresses)
        ]
        results = [r for r in results if family in (socket.AF_UNSPEC, r["family"])]
        if not results:
            raise OSError(f"{host} has no address")
        return results

    async def close(self) -> None:
        pass


async def _getaddrinfo(host: str, executor: ThreadPoolExecutor | None = None) -> list[str]:
    """The system's answer for `host`, as the default `resolve`. On threads of the client's own
    (`executor`): a lookup that hangs for a stranger's host holds one of those, never one of the
    threads the rest of the bot shares."""
    lookup = functools.partial(socket.getaddrinfo, host, None, type=socket.SOCK_STREAM)
    infos = await asyncio.get_running_loop().run_in_executor(executor, lookup)
    return [info[4][0] for info in infos]


class GuardedClient:
    """Fetches http(s) URLs for the bot, refusing anything not globally routable.

    `allow` opens networks that would be refused (tests; an intranet). `resolve` replaces the
    system's name lookup (tests). Use it as an async context manager, or call `aclose()`.
    """

    def __init__(
        self,
        *,
        user_agent: str,
        allow: Sequence[Network] = (),
        timeout: float = 10.0,
        max_bytes: int = 1_000_000,
        max_redirects: int = 5,
        total_connections: int = 8,
        per_host_connections: int = 2,
        resolve: Resolve | None = None,
    ) -> None:
        self._user_agent = user_agent
        self._allow = tuple(allow)
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._total_connections = total_connections
        self._per_host_connections = per_host_connections
        self._dns = self._dns_threads()
        self._resolve = resolve or (lambda host: _getaddrinfo(host, self._dns))
        self._session: aiohttp.ClientSession | None = None

        proxies = sorted({name.upper() for name in os.environ if name.lower() in _PROXY_VARIABLES})
        if proxies:
            log.warning(
                "%s ignored for fetching links: a proxy would connect on the bot's behalf to "
                "addresses the guard never sees", ", ".join(proxies),
            )
        if self._allow:
            log.warning(
                "fetching links may reach these networks: %s",
                ", ".join(str(net) for net in self._allow),
            )

    async def __aenter__(self) -> GuardedClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        self._dns.shutdown(wait=False, cancel_futures=True)
        self._dns = self._dns_threads()  # threads start on first use: a client used again still works

    def _dns_threads(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=self._total_connections, thread_name_prefix="watchbot-dns")

    def _open(self) -> aiohttp.ClientSession:
        # Made on first use, inside the running loop that aiohttp needs.
        if self._session is None:
            connector = aiohttp.TCPConnector(
                resolver=_GuardedResolver(self._resolve, self._allow),
                limit=self._total_connections,
                limit_per_host=self._per_host_connections,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                trust_env=False,  # no proxies from the environment: they would bypass the guard
                cookie_jar=aiohttp.DummyCookieJar(),  # nothing carried from one fetch to the next
                auto_decompress=False,  # decompressed here, under the size cap
                timeout=aiohttp.ClientTimeout(),  # no aiohttp timeouts: `fetch` has one deadline
            )
        return self._session

    async def fetch(
        self,
        url: str,
        *,
        accept: Collection[str] | None = None,
        headers: Mapping[str, str] | None = None,
        max_bytes: int | None = None,
        truncate: bool = False,
    ) -> Fetched:
        """GET `url`, following redirects, each hop checked like the first.

        `accept`: content types wanted; another type fails before its body is read. `headers`
        are sent on every hop (If-None-Match, ...). Over `max_bytes` (decompressed) fails,
        unless `truncate`, which keeps the start.

        Raises FetchRefused when the guard says no, FetchFailed when the fetch goes wrong.
        """
        request = _Request(
            url=url,
            accept=frozenset(accept) if accept else None,
            headers={
                "User-Agent": self._user_agent,
                "Accept": ", ".join(sorted(accept)) if accept else "*/*",
                "Accept-Encoding": _ENCODINGS,
                **(headers or {}),
            },
            max_bytes=self._max_bytes if max_bytes is None else max_bytes,
            truncate=truncate,
        )
        try:
            async with asyncio.timeout(self._timeout):
                return await self._fetch(request)
        except TimeoutError:
            raise FetchFailed(f"{url} took longer than {self._timeout:g} s") from None

    async def _fetch(self, request: _Request) -> Fetched:
        session = self._open()
        redirects: list[tuple[int, str]] = []
        hop = self._checked(request, _parse(request.url), redirected=False)
        while True:
            where = _where(request, hop, redirected=bool(redirects))
            try:
                async with session.get(
                    hop, headers=request.headers, allow_redirects=False
                ) as response:
                    location = response.headers.get("Location")
                    if response.status not in _REDIRECTS or location is None:
                        return await _finish(request, where, hop, response, tuple(redirects))
            except _AddressRefused as exc:
                raise _refused(where, str(exc)) from None
            except aiohttp.ClientError as exc:
                raise FetchFailed(f"{where} {_network_error(exc)}") from None

            if len(redirects) == self._max_redirects:
                raise _refused(
                    request.url, f"it redirects more than {self._max_redirects} times"
                )
            try:
                target = hop.join(URL(location))
            except ValueError:
                raise FetchFailed(f"{where} redirects to an invalid URL") from None
            redirects.append((response.status, str(target)))
            hop = self._checked(request, target, redirected=True)

    def _checked(self, request: _Request, url: URL, *, redirected: bool) -> URL:
        """`url` if the guard lets it through before any lookup, else FetchRefused."""
        where = _where(request, url, redirected=redirected)
        if url.scheme not in ("http", "https"):
            raise _refused(where, "only http and https links are fetched")
        if not url.raw_host:
            raise _refused(where, "it has no host")
        why = _host_refusal(url, self._allow)
        if why is not None:
            raise _refused(where, why)
        return url


_LOCALHOST_REASON = "{host} always means this machine (RFC 6761)"


def _is_localhost(host: str) -> bool:
    name = host.lower().rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


_HEX_LABEL = re.compile(r"0x[0-9a-f]*")


def _host_refusal(url: URL, allow: Sequence[Network]) -> str | None:
    """Why the host of `url` is refused without resolving it, if it is; None for names.

    aiohttp connects to IP literals without asking the resolver, and hands some numeric forms
    to the system as they are, so everything that looks like an address is judged here.
    """
    host = url.raw_host or ""
    if _is_localhost(host):
        return _LOCALHOST_REASON.format(host=host)
    if ":" in host:
        try:
            address = ipaddress.ip_address(url.host or "")
        except ValueError:
            return f"{host} is not a valid IPv6 address"
        why = refusal(address, allow)
        return None if why is None else f"{address} is {why}"

    # The legacy numeric forms of IPv4 (2130706433, 0177.0.0.1, 0x7f.1, 127.1) are read as the
    # system reads them (inet_aton, which getaddrinfo uses) and judged by the same rule.
    name = host.lower().removesuffix(".")
    last = name.rpartition(".")[2]
    if not ((last.isascii() and last.isdigit()) or _HEX_LABEL.fullmatch(last)):
        return None  # a name: the resolver judges its addresses
    try:
        address = IPv4Address(socket.inet_aton(name))
    except OSError:
        return f"{host} is not a valid IPv4 address"
    why = refusal(address, allow)
    if host == str(address):
        return None if why is None else f"{address} is {why}"
    if why is not None:
        return f"it resolves to {address}, {why}"
    # Allowed, but aiohttp may reject the form and other readers may read it differently.
    return f"{host} is {address} written in a legacy numeric form"


def _parse(text: str) -> URL:
    try:
        return URL(text)
    except ValueError:
        raise _refused(text, "it is not a valid URL") from None


def _where(request: _Request, hop: URL, *, redirected: bool) -> str:
    """The URL a reason names: the one asked for, and the hop too after a redirect."""
    return f"{hop} (redirected from {request.url})" if redirected else request.url


def _refused(where: str, why: str) -> FetchRefused:
    """The refusal, logged once here."""
    reason = f"refused {where}: {why}"
    log.warning("%s", reason)
    return FetchRefused(reason)


def _network_error(exc: aiohttp.ClientError) -> str:
    """A short reason for an aiohttp error, without what the server sent."""
    if isinstance(exc, aiohttp.ClientConnectorCertificateError):
        return "has a TLS certificate that is not valid"
    if isinstance(exc, aiohttp.ClientSSLError):
        return "failed the TLS handshake"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, socket.gaierror):
            return "has a host name that does not resolve"
        error = exc.os_error
        detail = os.strerror(error.errno).lower() if error.errno else type(error).__name__
        return f"could not be reached ({detail})"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "was cut off: the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "sent a body that was cut short or malformed"
    if isinstance(exc, aiohttp.ClientResponseError):
        return "sent a malformed response"
    return f"failed ({type(exc).__name__})"


async def _finish(
    request: _Request,
    where: str,
    hop: URL,
    response: aiohttp.ClientResponse,
    redirects: tuple[tuple[int, str], ...],
) -> Fetched:
    """The Fetched for the final hop, or FetchFailed."""
    status = response.status
    if status >= 400:
        retry_after = _retry_after(response.headers.get("Retry-After"))
        try:
            status_text = f"{status} {HTTPStatus(status).phrase}"
        except ValueError:
            status_text = str(status)
        wait = "" if retry_after is None else f" (retry after {retry_after:.0f} s)"
        raise FetchFailed(
            f"{where} answered {status_text}{wait}", status=status, retry_after=retry_after
        )
    if 300 <= status < 400 and status != 304:
        raise FetchFailed(f"{where} answered {status} without a Location", status=status)
    if request.accept is not None and status != 304:
        if response.content_type not in request.accept:
            raise FetchFailed(f"{where} is {response.content_type}, not {_kind(request.accept)}",
                              content_type=response.content_type)
    body, truncated = await _read_body(request, where, response)
    return Fetched(
        url=request.url,
        final_url=str(hop),
        status=status,
        headers=response.headers,
        body=body,
        truncated=truncated,
        content_type=response.content_type,
        charset=response.charset,
        redirects=redirects,
    )


def _kind(accept: frozenset[str]) -> str:
    if accept <= _PAGE_TYPES:
        return "a page"
    if accept <= _FEED_TYPES:
        return "a feed"
    return " or ".join(sorted(accept))


async def _read_body(
    request: _Request, where: str, response: aiohttp.ClientResponse
) -> tuple[bytes, bool]:
    """The decompressed body up to the cap, and whether it went over (then cut, or FetchFailed)."""
    cap = request.max_bytes
    too_big = FetchFailed(f"{where} is larger than {cap} bytes")
    # Several Content-Encoding headers are one list (RFC 9110): "gzip" twice is "gzip, gzip",
    # which is refused below rather than half-decoded.
    encoding = ", ".join(response.headers.getall("Content-Encoding", ["identity"])).strip().lower()
    decoder = _decoder(encoding)
    if decoder is None:
        raise FetchFailed(f"{where} is encoded as {encoding!r}, which is not supported")
    if (
        isinstance(decoder, _Identity)
        and not request.truncate
        and response.content_length is not None
        and response.content_length > cap
    ):
        raise too_big  # said so up front: nothing to read

    body = bytearray()
    try:
        async for chunk in response.content.iter_chunked(_CHUNK):
            # Never more than one byte past the cap, however well the chunk compresses.
            body += decoder.decompress(chunk, cap + 1 - len(body))
            if len(body) > cap:
                break
        else:
            body += decoder.flush()
    except zlib.error as exc:
        raise FetchFailed(f"{where} is not valid {encoding}") from exc
    if len(body) <= cap:
        return bytes(body), False
    response.close()  # the rest is never read: do not reuse the connection
    if not request.truncate:
        raise too_big
    return bytes(body[:cap]), True


class _Identity:
    def decompress(self, data: bytes, limit: int) -> bytes:
        return data[:limit]

    def flush(self) -> bytes:
        return b""


class _Inflate:
    """gzip or deflate, giving out at most `limit` bytes per call (zlib's max_length)."""

    def __init__(self, wbits: int | None) -> None:
        # wbits None: "deflate", which servers send zlib-wrapped (as RFC 9110 says) or raw; the
        # first two bytes tell which.
        self._zlib = None if wbits is None else zlib.decompressobj(wbits)
        self._head = b""

    def decompress(self, data: bytes, limit: int) -> bytes:
        if self._zlib is None:
            data = self._head + data
            if len(data) < 2:
                self._head = data
                return b""
            wrapped = (data[0] & 0x0F) == 8 and ((data[0] << 8) | data[1]) % 31 == 0
            self._zlib = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        # Input that would inflate past `limit` stays in unconsumed_tail, never in memory inflated.
        return self._zlib.decompress(data, limit)

    def flush(self) -> bytes:
        return b"" if self._zlib is None else self._zlib.flush()


def _decoder(encoding: str) -> _Identity | _Inflate | None:
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip"):
        return _Inflate(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _Inflate(None)
    return None


def _retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), if it parses."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT
        return None
    return max(0.0, when.timestamp() - time.time())
