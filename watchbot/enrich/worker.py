"""The background worker: fetch each new link's page, keep what it says, merge what is the same.

- Every new link is due at once (the store marks it pending when it is filed); a failure is
  retried with backoff (or when the server's Retry-After says), and after MAX_ATTEMPTS, or at
  once for 404 and 410, the link is marked dead: never deleted.
- A refusal by the guard (a private address, a bad scheme) is final, with its reason kept.
- A page whose final or canonical URL is already a link of ours is that link: the newer of the
  two is merged into the older, and the merge is recorded (`watchbot links unmerge`).
- The store is the cache: a page fetched once is not fetched again unless asked
  (`watchbot links refresh`).
- A page whose reading raises (a bug, not a failed fetch) is marked failed for its link, not
  retried on its own (it would fail the same way), and kept as a failed event (isolation.py)
  until `watchbot failed retry` (or `forget`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, replace
from datetime import timedelta

from watchbot.enrich.look import look
from watchbot.enrich.metadata import same_site
from watchbot.fetch import FetchFailed, FetchOptions, FetchRefused, GuardedClient
from watchbot.isolation import Isolation
from watchbot.links import InvalidURL, canonical_key
from watchbot.model import Page, PageState, utcnow
from watchbot.store import Store
from watchbot.policy import blocked_by
from watchbot.store.links import LinkStore
from watchbot.store.moderation import ModerationStore
from watchbot.store.pages import LinkPages, Merge, OtherKey

log = logging.getLogger(__name__)

BATCH = 50  # due links read at a time (at most 2 x concurrency are in flight)
IDLE_SECONDS = 5.0  # how often an idle worker looks for new links
MAX_ATTEMPTS = 6
FIRST_RETRY = timedelta(minutes=10)  # then x4 per attempt: 10 min, 40 min, 2.7 h, 10.7 h, 1.8 days
LAST_RETRY = timedelta(days=2)
GONE = {404, 410}


@dataclass(frozen=True, slots=True)
class Looked:
    """What looking at one link gave: for the log and for `watchbot links refresh`."""

    link_id: int
    url: str
    state: PageState
    page: Page | None = None
    reason: str | None = None
    merge: Merge | None = None

    def line(self) -> str:
        if self.merge is not None:
            other = self.merge.kept_id if self.merge.merged_id == self.link_id else self.merge.merged_id
            return f"#{self.link_id} {self.url}: the same page as #{other} ({self.merge.reason}); merged " \
                   f"#{self.merge.merged_id} into #{self.merge.kept_id}"
        if self.state is PageState.OK and self.page is not None:
            found = [f"“{self.page.title}”" if self.page.title else "no title"]
            if self.page.site_name:
                found.append(self.page.site_name)
            if self.page.final_url and self.page.final_url != self.url:
                found.append(f"now at {self.page.final_url}")
            return f"#{self.link_id} {self.url}: " + ", ".join(found)
        return f"#{self.link_id} {self.url}: {self.state.value}: {self.reason}"


class Enricher:
    @classmethod
    def from_options(cls, store: Store, options: FetchOptions) -> Enricher:
        """An Enricher with a client of its own, fetching as the options say."""
        return cls(store, options.client(), concurrency=options.concurrency)

    def __init__(self, store: Store, client: GuardedClient, *, concurrency: int = 8) -> None:
        self.pages = LinkPages(store)
        self._moderation = ModerationStore(store)
        self.client = client
        self._concurrency = concurrency
        self._limit = asyncio.Semaphore(concurrency)
        self.isolation = Isolation(store, "page", "page of link", log)

    async def run(self) -> None:
        """Fetch what is due, forever (until cancelled): a slot freed is filled at once, so one
        slow page never holds up the others."""
        in_flight: dict[int, asyncio.Task] = {}
        try:
            while True:
                if not in_flight:
                    await self.retry_asked()
                if len(in_flight) < self._concurrency:
                    for link_id, url in await self.pages.due(utcnow(), BATCH):
                        if link_id not in in_flight and len(in_flight) < 2 * self._concurrency:
                            in_flight[link_id] = asyncio.create_task(self._enrich_and_log(link_id, url))
                if not in_flight:
                    await asyncio.sleep(IDLE_SECONDS)
                    continue
                await asyncio.wait(in_flight.values(), timeout=IDLE_SECONDS, return_when=asyncio.FIRST_COMPLETED)
                for link_id in [link_id for link_id, task in in_flight.items() if task.done()]:
                    in_flight.pop(link_id).result()
        finally:
            for task in in_flight.values():
                task.cancel()
            await asyncio.gather(*in_flight.values(), return_exceptions=True)
            await self.client.aclose()

    async def _enrich_and_log(self, link_id: int, url: str) -> None:
        try:
            log.info("page: %s", (await self.enrich(link_id, url)).line())
        except Exception as error:  # noqa: BLE001 -- not even the failure could be kept (the store): go on
            log.error("page: could not keep what #%d %s gave (%s)", link_id, url, self.isolation.reason(error))

    async def retry_asked(self) -> None:
        """Look again at the pages an operator asked to retry (`watchbot failed retry`); the worker
        does it when idle."""
        async def retry(failure) -> None:
            asked = json.loads(failure.payload)
            looked = await self._enrich(asked["link_id"], asked["url"])  # raises again if it fails again
            log.info("page: %s", looked.line())

        await self.isolation.retry_asked(retry)

    async def enrich(self, link_id: int, url: str) -> Looked:
        """Look at one link now and keep what was found (or why not, an unexpected error included)."""
        try:
            return await self._enrich(link_id, url)
        except Exception as error:  # noqa: BLE001 -- one page never stops the worker, nor the others
            reason = await self.isolation.failed(error, place=url, event_id=link_id,
                                                 payload={"link_id": link_id, "url": url})
            # Failed, and not due again: the same bug would fail it the same way at each retry.
            await self.pages.failed(link_id, PageState.FAILED, f"unexpected error: {reason}", None, fetched_url=url)
            return Looked(link_id, url, PageState.FAILED, reason=reason)

    async def _enrich(self, link_id: int, url: str) -> Looked:
        async with self._limit:
            try:
                page = await look(self.client, url)
            except FetchRefused as refused:
                await self.pages.failed(link_id, PageState.REFUSED, refused.reason, None, fetched_url=url)
                return Looked(link_id, url, PageState.REFUSED, reason=refused.reason)
            except FetchFailed as failed:
                if failed.content_type is None:
                    return await self._failed(link_id, url, failed)
                # It works, it is just not a page (a PDF, an image): nothing more to learn.
                page = Page(state=PageState.OK, fetched_at=utcnow())
        page = replace(page, fetched_url=url)  # what it says is published only if `url` is
        if (blocked := await self._blocked(page)) is not None:
            # A shortener or a redirect hid a blocked domain: the link goes, and the log says why.
            await LinkStore(self.pages.store).remove_link(link_id, actor="watchbot", reason=blocked)
            return Looked(link_id, url, PageState.REFUSED, reason=f"removed: {blocked}")
        merge = await self.pages.found(link_id, page, other_keys(url, page))
        return Looked(link_id, url, PageState.OK, page=page, merge=merge)

    async def _blocked(self, page: Page) -> str | None:
        patterns = await self._moderation.blocked_patterns()
        for found in (page.final_url, page.canonical_url):
            if found and (pattern := blocked_by(found, patterns)) is not None:
                return f"it leads to {found}, and {pattern} is blocked"
        return None

    async def _failed(self, link_id: int, url: str, failed: FetchFailed) -> Looked:
        attempts = await self.pages.attempts(link_id) + 1
        if failed.status in GONE or attempts >= MAX_ATTEMPTS:
            await self.pages.failed(link_id, PageState.DEAD, failed.reason, None, fetched_url=url)
            return Looked(link_id, url, PageState.DEAD, reason=failed.reason)
        wait = min(FIRST_RETRY * 4 ** (attempts - 1), LAST_RETRY)
        if failed.retry_after is not None:
            wait = max(wait, timedelta(seconds=min(failed.retry_after, LAST_RETRY.total_seconds())))
        await self.pages.failed(link_id, PageState.FAILED, failed.reason, utcnow() + wait, fetched_url=url)
        return Looked(link_id, url, PageState.FAILED, reason=failed.reason)


def other_keys(url: str, page: Page) -> list[OtherKey]:
    """The keys of the page's final and canonical URLs that differ from the link's own, each
    saying whether it is on the link's own site (a redirect to another site is a shortener, or
    someone's trick: see LinkPages.found)."""
    try:
        own = canonical_key(url)
    except InvalidURL:
        own = None
    keys: list[OtherKey] = []
    for found, reason in ((page.canonical_url, "same canonical URL"), (page.final_url, "same final URL")):
        if not found:
            continue
        try:
            key = canonical_key(found)
        except InvalidURL:
            continue
        if key != own and key not in (k.key for k in keys):
            keys.append(OtherKey(key, reason, same_site(url, found)))
    return keys
