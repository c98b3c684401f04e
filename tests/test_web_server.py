"""The web server defends itself (web/serve.py, connections.py, accept_errors.py; decision 32):
connections that say nothing are closed, a cap answers 503 past it, aiohttp's own answers and
our failures carry the security headers, and the loop's accept() failures are said once a minute.

Served on SQLite only: these are about connections, not the store (test_web_parameters.py reads
both databases)."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from tests.waiting import until
from tests.web_helpers import fill, listening
from watchbot.store import Store
from watchbot.store.published import PublishedReader
from watchbot.store.rooms import RoomStore
from watchbot.web.accept_errors import OUT_OF_RESOURCES, AcceptFailures
from watchbot.web.connections import RETRY_AFTER_SECONDS
from watchbot.web.headers import SECURITY_HEADERS

HELD = 500  # connections that say nothing: half the usual file limit, held by the server
CSP = SECURITY_HEADERS["Content-Security-Policy"]


@pytest.fixture
async def filled(sqlite_url: str) -> AsyncIterator[Store]:
    store = await Store.open(sqlite_url)
    await fill(store)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def files_for_both_ends() -> Iterator[None]:
    """This process holds both ends of every held connection (2 × HELD descriptors, and its own):
    the soft limit is raised to the hard one for the test when it is lower than that."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    needed = 2 * HELD + 512
    if soft == resource.RLIM_INFINITY or soft >= needed:
        yield
        return
    assert hard == resource.RLIM_INFINITY or hard >= needed, f"the hard file limit ({hard}) is below {needed}"
    resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else hard, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


async def raw_exchange(port: int, sent: bytes) -> tuple[str, dict[str, str], bytes]:
    """What the server answers `sent` on a socket of its own: status line, headers, body (read to
    the end: the server closes the connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(sent)
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    return status, dict(line.split(": ", 1) for line in lines), body


async def get(port: int, path: str) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}{path}") as answer:
        return answer.status, dict(answer.headers), await answer.text()


async def test_connections_that_say_nothing_are_closed_and_a_reader_is_served_meanwhile(filled: Store,
                                                                                     files_for_both_ends):
    async with listening(filled, head_timeout=1, max_connections=HELD + 100) as server:
        held = await asyncio.gather(*(asyncio.open_connection("127.0.0.1", server.port) for _ in range(HELD)))
        try:
            for reader, writer in held[::2]:
                writer.write(b"GET /about HT")  # half a request line; the other half sends nothing
            status, _, _ = await get(server.port, "/about")
            assert status == 200
            await until(lambda: all(reader.at_eof() for reader, _ in held),
                        "every held connection to be closed by the server", timeout=15)
            await until(lambda: server.connections.count == 0, "the server to hold no connection")
        finally:
            for _, writer in held:
                writer.close()


async def test_past_the_cap_a_connection_is_told_503_and_closed(filled: Store):
    loop = asyncio.get_running_loop()
    before = loop.get_exception_handler()
    async with listening(filled, max_connections=5) as server:
        assert isinstance(loop.get_exception_handler(), AcceptFailures)  # while it listens
        held = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(5)]
        await until(lambda: server.connections.count == 5, "the five connections to be held")
        status, headers, body = await raw_exchange(server.port, b"")  # read to the end: closed
        assert status == "HTTP/1.1 503 Service Unavailable"
        assert headers["Retry-After"] == str(RETRY_AFTER_SECONDS) and headers["Connection"] == "close"
        assert headers["Content-Security-Policy"] == CSP and headers["Server"] == "watchbot"
        assert body.decode().endswith("try again in a few seconds.\n") and body.count(b"\n") == 1
        for _, writer in held:
            writer.close()
        await until(lambda: server.connections.count == 0, "the five to be closed")
        status, _, _ = await get(server.port, "/about")
        assert status == 200
    assert loop.get_exception_handler() is before  # given back once stopped


async def test_a_request_aiohttp_cannot_read_gets_its_400_with_our_headers_and_no_traceback(filled: Store, caplog):
    caplog.set_level(logging.DEBUG)
    async with listening(filled) as server:
        malformed = await raw_exchange(server.port, b"GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n")
        long_header = await raw_exchange(server.port, b"GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 9000
                                         + b"\r\n\r\n")
        long_line = await raw_exchange(server.port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        _, page_headers, _ = await get(server.port, "/about")
    for status, headers, body in (malformed, long_header, long_line):
        assert status.endswith(" 400 Bad Request")
        assert {name: headers.get(name) for name in SECURITY_HEADERS} == SECURITY_HEADERS
        assert headers["Server"] == "watchbot" and body.startswith(b"400 Bad Request: ")
    assert page_headers["Server"] == "watchbot"  # no Python nor aiohttp version
    assert not [record for record in caplog.records if record.exc_info or record.levelno >= logging.WARNING]


async def test_a_handler_that_raises_is_a_500_with_our_headers_logged_once_with_its_traceback(
        filled: Store, caplog, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(RoomStore, "joined", broken)
    monkeypatch.setattr(PublishedReader, "page", broken)
    async with listening(filled) as server:
        page = await get(server.port, "/about")
        data = await get(server.port, "/api/links")
    for status, headers, _ in (page, data):
        assert status == 500
        assert headers["Content-Security-Policy"] == CSP and headers["Server"] == "watchbot"
    assert page[2] == "The watch failed to answer this; its log says why.\n"
    assert data[1]["Content-Type"].startswith("application/json") and "its log says why" in data[2]
    failures = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert [record.getMessage() for record in failures] == ["GET /about failed", "GET /api/links failed"]
    assert all(record.exc_info and "a bug of ours" in str(record.exc_info[1]) for record in failures)


# -- accept() failures: once a minute, in one line ------------------------------------------------


@pytest.fixture
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    made = asyncio.new_event_loop()
    try:
        yield made
    finally:
        made.close()


def test_accept_failures_are_said_once_a_minute_in_one_line(loop, caplog):
    now = [1000.0]
    handler = AcceptFailures(loop, clock=lambda: now[0])
    context = {"message": OUT_OF_RESOURCES, "exception": OSError(errno.EMFILE, "Too many open files")}
    handler(loop, context)
    handler(loop, context)  # the same minute: not said
    now[0] += 59
    handler(loop, context)
    said = [record for record in caplog.records if record.name == "watchbot.web.accept_errors"]
    assert len(said) == 1 and said[0].exc_info is None and said[0].levelno == logging.ERROR
    assert said[0].getMessage().startswith("the web server cannot accept connections: Too many open files;")
    now[0] += 2  # a minute since the first line
    handler(loop, context)
    said = [record for record in caplog.records if record.name == "watchbot.web.accept_errors"]
    assert len(said) == 2 and "(2 more times since the last such line)" in said[1].getMessage()
    assert "Traceback" not in caplog.text


def test_every_other_message_goes_to_the_handler_that_was_there_before(loop, caplog):
    handler = AcceptFailures(loop)
    handler.install()
    handler(loop, {"message": "Task exception was never retrieved", "exception": ValueError("not ours")})
    [default] = [record for record in caplog.records if record.name == "asyncio"]  # the loop's default handler
    assert default.getMessage().startswith("Task exception was never retrieved") and default.exc_info
    handler.uninstall()
    assert loop.get_exception_handler() is None

    seen = []
    loop.set_exception_handler(lambda loop, context: seen.append(context["message"]))
    previous = loop.get_exception_handler()
    handler = AcceptFailures(loop)
    handler.install()
    loop.call_exception_handler({"message": "something else"})
    loop.call_exception_handler({"message": OUT_OF_RESOURCES, "exception": OSError(errno.ENFILE, "File table full")})
    assert seen == ["something else"]
    handler.uninstall()
    assert loop.get_exception_handler() is previous
