"""What fetching each link found, the other keys a link is known by, and merges of links that
turned out to be the same page (kept whole so they can be explained and undone).

A merge moves the newer link's shares onto the older one and deletes the newer link; its key
becomes an alias of the older one, so later shares of it land there too. A share that would
repeat one already on the kept link (the same message shared both URLs) cannot move: it is
kept whole in the merge record instead, and put back by `unmerge`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import Connection

from watchbot.model import Page, PageState, utcnow
from watchbot.store.schema import link_aliases, link_merges, link_pages, links, moderation_log, share_tags, shares
from watchbot.store.links import LINK_ID_BY_KEY, rebuild_search_document
from watchbot.store.modlog import log_target
from watchbot.store.store import Store

# Fetched again when due; ok, dead and refused pages wait for `watchbot links refresh`.
_RETRYABLE = (PageState.PENDING.value, PageState.FAILED.value)
# A page is fetched from the URL published, so that what it says may be published; a link no
# share of which may be published is fetched from its stored URL, for the operator's eyes only.
_TO_FETCH = func.coalesce(links.c.published_url, links.c.url).label("url")


@dataclass(frozen=True, slots=True)
class OtherKey:
    """Another key a fetched link turned out to have (its final or canonical URL's)."""

    key: str
    reason: str  # "same final URL", "same canonical URL"
    same_site: bool  # on the link's own site


@dataclass(frozen=True, slots=True)
class Merge:
    id: int
    kept_id: int
    merged_id: int
    merged_url: str
    reason: str
    at: datetime
    undone_at: datetime | None


class LinkPages:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def due(self, now: datetime, limit: int) -> list[tuple[int, str]]:
        """Links to fetch now (new ones, and failed ones due again), the most recently due first:
        a link just shared in the room gets its title before the backlog of a big import."""
        query = (
            select(links.c.id, _TO_FETCH)
            .join(link_pages, link_pages.c.link_id == links.c.id)
            .where(link_pages.c.state.in_(_RETRYABLE), link_pages.c.next_fetch_at <= now)
            .order_by(link_pages.c.next_fetch_at.desc(), links.c.id.desc())
            .limit(limit)
        )
        return await self.store.read(lambda conn: [tuple(row) for row in conn.execute(query)])

    async def next_due_at(self) -> datetime | None:
        """When the next fetch falls due."""
        query = select(func.min(link_pages.c.next_fetch_at)).where(link_pages.c.state.in_(_RETRYABLE))
        return await self.store.read(lambda conn: conn.execute(query).scalar_one_or_none())

    async def urls(self, link_ids: list[int] | None = None) -> list[tuple[int, str]]:
        """The URL each link's page is fetched from (see _TO_FETCH)."""
        query = select(links.c.id, _TO_FETCH).order_by(links.c.id)
        if link_ids is not None:
            query = query.where(links.c.id.in_(link_ids))
        return await self.store.read(lambda conn: [tuple(row) for row in conn.execute(query)])

    async def found(self, link_id: int, page: Page, other_keys: list[OtherKey]) -> Merge | None:
        """Keep what a fetch found. `other_keys` are the keys of the page's final and canonical
        URLs: a key no link has becomes an alias of this link, and a key another link has means
        both are the same page, the newer merged into the older. A key on another site (the
        link redirected elsewhere) never becomes an alias, and when it is a link already, that
        link is the one kept: a redirect someone posted must not take over a real page's shares
        nor stand for it in the digest."""

        def record(conn: Connection) -> Merge | None:
            if conn.execute(select(links.c.id).where(links.c.id == link_id)).first() is None:
                return None  # removed while it was being fetched
            _save_page(conn, link_id, page)
            merge = None
            for other in other_keys:
                owner = conn.execute(LINK_ID_BY_KEY, {"key": other.key}).scalar_one_or_none()
                if owner is None:
                    if other.same_site:
                        conn.execute(insert(link_aliases).values(key=other.key, link_id=link_id))
                elif owner != link_id and not _unmerged_before(conn, owner, link_id):
                    kept, gone = (min(owner, link_id), max(owner, link_id)) if other.same_site else (owner, link_id)
                    merge = _merge(conn, kept=kept, gone=gone, reason=other.reason)
                    break
            rebuild_search_document(conn, merge.kept_id if merge else link_id)
            return merge

        return await self.store.write(record)

    async def failed(self, link_id: int, state: PageState, reason: str, next_fetch_at: datetime | None,
                     *, fetched_url: str | None = None) -> None:
        """Remember a failed fetch of `fetched_url`: retried from `next_fetch_at`, or never (dead,
        refused)."""

        def record(conn: Connection) -> None:
            if conn.execute(select(links.c.id).where(links.c.id == link_id)).first() is None:
                return
            before = conn.execute(select(link_pages).where(link_pages.c.link_id == link_id)).first()
            values = dict(state=state.value, reason=reason, next_fetch_at=next_fetch_at,
                          attempts=(before.attempts if before else 0) + 1, fetched_at=utcnow())
            if fetched_url is not None:
                values["fetched_url"] = fetched_url
            if before is None:
                conn.execute(insert(link_pages).values(link_id=link_id, **values))
            else:  # what an earlier fetch found (title, site) stays: the page may be back
                conn.execute(update(link_pages).where(link_pages.c.link_id == link_id).values(**values))

        await self.store.write(record)

    async def attempts(self, link_id: int) -> int:
        query = select(link_pages.c.attempts).where(link_pages.c.link_id == link_id)
        return await self.store.read(lambda conn: conn.execute(query).scalar_one_or_none() or 0)

    async def merges(self, link_id: int) -> list[Merge]:
        """The merges into this link and out of it, oldest first."""
        query = (select(link_merges)
                 .where(or_(link_merges.c.kept_id == link_id, link_merges.c.merged_id == link_id))
                 .order_by(link_merges.c.id))
        return await self.store.read(lambda conn: [_merge_of(row) for row in conn.execute(query)])

    async def unmerge(self, merged_id: int, *, actor: str) -> Merge | None:
        """Undo the merge that removed link `merged_id`: the link comes back with its own id, its
        shares and its aliases, and is never merged into the same link again."""

        def undo(conn: Connection) -> Merge | None:
            row = conn.execute(
                select(link_merges)
                .where(link_merges.c.merged_id == merged_id, link_merges.c.undone_at.is_(None))
                .order_by(link_merges.c.id.desc()).limit(1)
            ).first()
            if row is None:
                return None
            details = json.loads(row.details)
            conn.execute(insert(links).values(
                id=row.merged_id, key=row.merged_key, url=row.merged_url, title=row.merged_title,
                description=row.merged_description, filed_at=row.merged_filed_at, search_document=""))
            conn.execute(delete(link_aliases).where(link_aliases.c.merge_id == row.id))
            if details["moved"]:
                conn.execute(update(shares).where(shares.c.id.in_(details["moved"]), shares.c.link_id == row.kept_id)
                             .values(link_id=row.merged_id))
            for dropped in details["dropped"]:
                tags = dropped.pop("tags")
                conn.execute(insert(shares).values(**_share_from_json(dropped), link_id=row.merged_id))
                if tags:
                    conn.execute(insert(share_tags), [{"share_id": dropped["id"], "tag": t} for t in tags])
            if details["aliases"]:
                conn.execute(update(link_aliases).where(link_aliases.c.key.in_(details["aliases"]))
                             .values(link_id=row.merged_id))
            if conn.execute(select(shares.c.id).where(shares.c.link_id == row.merged_id).limit(1)).first() is None:
                # Nothing of it is left to give back (its sharers were forgotten): no empty link.
                conn.execute(delete(links).where(links.c.id == row.merged_id))
            undone = utcnow()
            conn.execute(update(link_merges).where(link_merges.c.id == row.id).values(undone_at=undone))
            for link_id in (row.kept_id, row.merged_id):
                if conn.execute(select(links.c.id).where(links.c.id == link_id)).first() is not None:
                    rebuild_search_document(conn, link_id)
            # Named by its published URL; by its stored one, marked private, when nothing of it is public.
            target, private = log_target(conn, row.merged_id) or (row.merged_url, True)
            conn.execute(insert(moderation_log).values(
                at=undone, actor=actor, action="unmerge", target=target, private_target=private,
                reason=f"#{row.merged_id} had been merged into #{row.kept_id} ({row.reason})"))
            return replace(_merge_of(row), undone_at=undone)

        return await self.store.write(undo)


def _save_page(conn: Connection, link_id: int, page: Page) -> None:
    values = dict(
        state=page.state.value, final_url=page.final_url, canonical_url=page.canonical_url, title=page.title,
        description=page.description, site_name=page.site_name, language=page.language,
        image_url=page.image_url, author=page.author, published_at=page.published_at, reason=page.reason,
        attempts=0, fetched_at=page.fetched_at or utcnow(), next_fetch_at=None, fetched_url=page.fetched_url,
    )
    if conn.execute(update(link_pages).where(link_pages.c.link_id == link_id).values(**values)).rowcount == 0:
        conn.execute(insert(link_pages).values(link_id=link_id, **values))


def _unmerged_before(conn: Connection, a: int, b: int) -> bool:
    """Someone undid a merge of these two: never merge them again."""
    pair = or_(and_(link_merges.c.kept_id == a, link_merges.c.merged_id == b),
               and_(link_merges.c.kept_id == b, link_merges.c.merged_id == a))
    return conn.execute(select(link_merges.c.id).where(pair, link_merges.c.undone_at.is_not(None))).first() is not None


def _merge(conn: Connection, *, kept: int, gone: int, reason: str) -> Merge:
    gone_link = conn.execute(select(links).where(links.c.id == gone)).one()
    kept_events = {(row.source, row.event_id) for row in conn.execute(
        select(shares.c.source, shares.c.event_id).where(shares.c.link_id == kept, shares.c.event_id.is_not(None)))}
    moved, dropped = [], []
    for share in conn.execute(select(shares).where(shares.c.link_id == gone).order_by(shares.c.id)):
        if share.event_id is not None and (share.source, share.event_id) in kept_events:
            tags = conn.execute(select(share_tags.c.tag).where(share_tags.c.share_id == share.id)).scalars()
            dropped.append({**_share_to_json(share), "tags": list(tags)})
        else:
            moved.append(share.id)
    if moved:
        conn.execute(update(shares).where(shares.c.id.in_(moved)).values(link_id=kept))
    aliases = list(conn.execute(select(link_aliases.c.key).where(link_aliases.c.link_id == gone)).scalars())
    conn.execute(update(link_aliases).where(link_aliases.c.link_id == gone).values(link_id=kept))
    at = utcnow()
    merge_id = conn.execute(insert(link_merges).values(
        kept_id=kept, merged_id=gone, merged_key=gone_link.key, merged_url=gone_link.url,
        merged_title=gone_link.title, merged_description=gone_link.description,
        merged_filed_at=gone_link.filed_at, reason=reason, at=at,
        details=json.dumps({"moved": moved, "dropped": dropped, "aliases": aliases}),
    ).returning(link_merges.c.id)).scalar_one()
    conn.execute(delete(links).where(links.c.id == gone))  # its page and dropped shares go with it
    conn.execute(insert(link_aliases).values(key=gone_link.key, link_id=kept, merge_id=merge_id))
    return Merge(merge_id, kept, gone, gone_link.url, reason, at, None)


def _share_to_json(share) -> dict:
    values = dict(share._mapping)
    values["shared_at"] = values["shared_at"].isoformat()
    return values


def _share_from_json(values: dict) -> dict:
    values = {key: value for key, value in values.items() if key != "link_id"}
    values["shared_at"] = datetime.fromisoformat(values["shared_at"])
    return values


def _merge_of(row) -> Merge:
    return Merge(row.id, row.kept_id, row.merged_id, row.merged_url, row.reason, row.at, row.undone_at)
