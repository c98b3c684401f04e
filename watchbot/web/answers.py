"""Answers kept a few seconds, and made a few at a time: twenty readers of one page cost one
reading of it, and twenty readers of twenty pages cost /healthz two renders at most.

A page is read from the store and rendered for each request; when readers loop on one address
(a scraper, a link on a busy forum, a monitor set too eagerly) the web's process spends all it has
on that one page, and its own /healthz answers late. So each 200 answer to a GET of the pages, the
API and the feeds is kept KEEP_SECONDS, by its path and query: a reader in that time gets the
same bytes (or a 304, when it already holds them), and readers who come together while it is
being made wait for that one making. What changes in the store shows on the pages at most
KEEP_SECONDS later (decision 30), removals and `forget me` included. Answers not kept are made
MAKING_AT_ONCE at a time.

Not kept: /healthz (a monitor asks whether the web is well now), errors (a stranger's many
wrong addresses would fill the memory), and anything that is not a plain answer in memory (the
stylesheet is a file). The memory is bounded: KEPT_BYTES in all, the oldest dropped first.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

KEEP_SECONDS = 5.0
# Answers made at once; the readers beyond wait their turn, queued in the event loop. A page's
# making is reading (on a reader's thread) then rendering (on the event loop): with more at once,
# /healthz would wait behind every render under way. Two: the two cores of a small server.
MAKING_AT_ONCE = 2
KEPT_BYTES = 8 * 1024 * 1024  # all kept answers together; one answer above a quarter of it is not kept
NOT_KEPT = ("/healthz",)
# The headers a kept answer is given again with (the rest are the app's own, added to every answer).
KEPT_HEADERS = (hdrs.CONTENT_TYPE, hdrs.ETAG, hdrs.LAST_MODIFIED, hdrs.CACHE_CONTROL, hdrs.LINK)


@dataclass(frozen=True, slots=True)
class _Kept:
    at: float
    body: bytes
    headers: tuple[tuple[str, str], ...]

    def answer(self, request: web.Request) -> web.Response:
        headers = dict(self.headers)
        if _unchanged_for(request, headers):
            return web.Response(status=304, headers={name: value for name, value in headers.items()
                                                     if name in (hdrs.ETAG, hdrs.LAST_MODIFIED, hdrs.CACHE_CONTROL)})
        return web.Response(body=self.body, headers=headers)


class KeptAnswers:
    def __init__(self, *, seconds: float = KEEP_SECONDS, limit: int = KEPT_BYTES, at_once: int = MAKING_AT_ONCE,
                 ticks: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.limit = limit
        self._ticks = ticks
        self._kept: OrderedDict[str, _Kept] = OrderedDict()
        self._bytes = 0
        self._making: dict[str, asyncio.Event] = {}
        self._makers = asyncio.Semaphore(at_once)

    def _fresh(self, key: str) -> _Kept | None:
        kept = self._kept.get(key)
        if kept is None:
            return None
        if self._ticks() - kept.at >= self.seconds:
            self._drop(key)
            return None
        self._kept.move_to_end(key)
        return kept

    async def answer(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        key = request.path_qs
        if (kept := self._fresh(key)) is not None:
            return kept.answer(request)
        if (making := self._making.get(key)) is not None:
            await making.wait()  # another reader's request is making it
            if (kept := self._fresh(key)) is not None:
                return kept.answer(request)
            return await self._made(request, handler)  # it was not one to keep: make this one too
        self._making[key] = making = asyncio.Event()
        try:
            response = await self._made(request, handler)
            self._keep(key, response)
            return response
        finally:
            del self._making[key]
            making.set()

    async def _made(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        async with self._makers:
            return await handler(request)

    def _keep(self, key: str, response: web.StreamResponse) -> None:
        if (type(response) is not web.Response or response.status != 200 or response.body is None
                or not isinstance(response.body, bytes) or len(response.body) > self.limit // 4):
            return
        body = response.body
        headers = tuple((name, response.headers[name]) for name in KEPT_HEADERS if name in response.headers)
        self._kept[key] = _Kept(self._ticks(), body, headers)
        self._bytes += len(body)
        while self._bytes > self.limit:
            self._drop(next(iter(self._kept)))

    def _drop(self, key: str) -> None:
        self._bytes -= len(self._kept.pop(key).body)


def _unchanged_for(request: web.Request, headers: dict[str, str]) -> bool:
    """Does the reader already hold this answer (If-None-Match, else If-Modified-Since)?"""
    if (tags := request.headers.get(hdrs.IF_NONE_MATCH)) is not None:
        return hdrs.ETAG in headers and headers[hdrs.ETAG] in {tag.strip() for tag in tags.split(",")}
    since = request.if_modified_since
    modified = headers.get(hdrs.LAST_MODIFIED)
    if since is None or modified is None:
        return False
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(modified) <= since
    except (TypeError, ValueError):
        return False


ANSWERS = web.AppKey("kept_answers", KeptAnswers)


@web.middleware
async def kept_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method != hdrs.METH_GET or request.path in NOT_KEPT:
        return await handler(request)
    return await request.app[ANSWERS].answer(request, handler)
