"""Forgetting a person (`forget me`, `watchbot mod forget ACCOUNT`): everything the store holds of
them leaves it, in one transaction (decisions 16 and 36).

What goes: their shares and every credit of them (merge records included), links nobody else
shared, their reactions, posts of theirs waiting for review, reports they made, their failed
events, and the answers the bot owed or sent that name them or answer their messages (unsent
ones dropped; sent ones kept without what they said, for exactly-once, until pruned). What names
them elsewhere names a random pseudonym instead: the moderation log (as who acted, in what was
acted on, in a reason), the reasons of bans, blocks and reports, who decided or set something.
"Names them" means their account, as a whole word, or any display name the store knows for them
(accounts.naming). Links others still share lose the URL, title and description only their
shares gave, and their search text is rebuilt; on SQLite the full-text indexes are then
optimized, so no word of theirs stays in an index segment (PostgreSQL indexes the row itself).
A ban stays, under a hash of the account: forgetting is not a way out of a ban.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.engine import Connection

from watchbot.accounts import canonical_account, hashed_account, naming
from watchbot.model import Visibility, post_from_json
from watchbot.store.links import delete_shares, rebuild_search_document
from watchbot.store.modlog import log_action
from watchbot.store.schema import (
    bans,
    blocked_domains,
    cursors,
    digest_runs,
    failed_events,
    feeds,
    link_merges,
    links,
    moderation_log,
    outbox,
    reactions,
    replies,
    reports,
    review_queue,
    rooms,
    shares,
)

# The cursor naming the fediverse server this store files things under (store/servers.py):
# a local account is written "@user" there.
SERVER_NAME = "mastodon.server_name"
# SQLite's full-text indexes: 'optimize' merges each into one segment, without what was deleted.
FTS_TABLES = ("links_fts", "published_fts")


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What forgetting someone removed, and the pseudonym the log names them by."""

    pseudonym: str
    shares: int  # theirs, merge records' included
    links: int  # links that went with them: nobody else shared them
    answers: int  # the bot's answers naming them or answering them: unsent dropped, sent emptied
    failed_events: int  # theirs, deleted (another's that names them is kept without its event)
    held: int  # their posts in the review queue (waiting, or decided)
    reports: int  # reports they made
    reactions: int
    banned: bool  # their ban stays, under a hash of the account



@dataclass(frozen=True, slots=True)
class _Person:
    """An account as the store may spell it: Matrix ids as they are, fediverse accounts
    case-folded (a server may give "Al@Social.example", a ban keeps "al@social.example")."""

    account: str

    @property
    def _exact(self) -> bool:
        return self.account.startswith("@") and ":" in self.account

    def held_in(self, column):
        """The SQL condition: `column` holds this account."""
        return column == self.account if self._exact else func.lower(column) == self.account

    def is_(self, value: Any) -> bool:
        return isinstance(value, str) and (value if self._exact else value.casefold()) == self.account


def forget_in(conn: Connection, account: str, *, actor: str | None = None) -> Forgotten:
    """Forget `account` inside the caller's transaction. `actor`: who asked, when not the person
    themself (an operator at the shell, honouring a request made otherwise); the log names them."""
    person = _Person(canonical_account(account))
    rows = conn.execute(select(shares.c.id, shares.c.link_id, shares.c.shared_at, shares.c.visibility,
                               shares.c.sharer_name, shares.c.event_id, shares.c.url, shares.c.title,
                               shares.c.description).where(person.held_in(shares.c.sharer_id))).all()
    held = conn.execute(select(review_queue.c.id, review_queue.c.event_id, review_queue.c.post)
                        .where(person.held_in(review_queue.c.author_id))).all()
    kept_in_merges, merge_names = _forget_in_merges(conn, person)
    theirs, failed_names, failed_events_ids = _their_failed_events(conn, person)
    # Every name the store knows them by, and the messages of theirs an answer may point at.
    names = ({row.sharer_name for row in rows} | merge_names | failed_names
             | {post_from_json(json.loads(row.post)).author_name for row in held})
    events = {event for event in ({row.event_id for row in rows} | {row.event_id for row in held}
                                  | failed_events_ids) if _specific(event)}
    local = conn.execute(select(cursors.c.value).where(cursors.c.name == SERVER_NAME)).scalar_one_or_none()
    named = naming(person.account, names, local_server=local)
    pseudonym = f"forgotten-{secrets.token_hex(4)}"

    # Digests already posted that may name them are edited by the scheduler.
    for moment in {row.shared_at for row in rows if Visibility(row.visibility).publishable}:
        conn.execute(update(digest_runs).where(
            digest_runs.c.status == "posted", digest_runs.c.period_start <= moment,
            digest_runs.c.period_end > moment).values(status="amend"))
    removed = delete_shares(conn, [row.id for row in rows])
    _unname_links(conn, rows, set(removed))
    reacted = conn.execute(delete(reactions).where(person.held_in(reactions.c.reactor))).rowcount
    conn.execute(delete(review_queue).where(review_queue.c.id.in_([row.id for row in held])))
    reported = conn.execute(delete(reports).where(person.held_in(reports.c.reporter))).rowcount
    answers, answered = _scrub_outbox(conn, named, events)
    failed = _scrub_failed_events(conn, theirs, named, events, pseudonym)
    # The statuses of theirs the bot answered on the fediverse: their URI names them.
    conn.execute(update(replies).where(replies.c.answered_uri.in_(events | answered)).values(answered_uri=None))
    banned = _keep_ban_hashed(conn, person)
    _rename(conn, person, named, pseudonym)
    _scrub_log(conn, person.account, named=named, names=names, pseudonym=pseudonym)
    total = len(rows) + kept_in_merges
    log_action(conn, actor or pseudonym, "forget", pseudonym, f"{total} share(s)")
    if conn.dialect.name == "sqlite":
        for table in FTS_TABLES:  # the deleted words leave the indexes' segments too
            conn.exec_driver_sql(f"INSERT INTO {table}({table}) VALUES ('optimize')")
    return Forgotten(pseudonym, total, len(removed), answers, failed, len(held), reported, reacted, banned)


def _specific(event_id: str | None) -> bool:
    """An id that names one message wherever it is written (a Matrix event id, a status URI),
    unlike a status's local number, which any other number may contain."""
    return bool(event_id) and len(event_id) >= 10 and not event_id.isdigit()


def _forget_in_merges(conn: Connection, person: _Person) -> tuple[int, set[str]]:
    """Shares of theirs kept whole in merge records (to be put back by an unmerge) go too: how
    many, and the names they were shared under."""
    forgotten, names = 0, set()
    for merge in conn.execute(select(link_merges.c.id, link_merges.c.details)).all():
        details = json.loads(merge.details)
        theirs = [share for share in details["dropped"] if person.is_(share.get("sharer_id"))]
        if theirs:
            forgotten += len(theirs)
            names |= {str(share.get("sharer_name") or "") for share in theirs}
            details["dropped"] = [share for share in details["dropped"] if not person.is_(share.get("sharer_id"))]
            conn.execute(update(link_merges).where(link_merges.c.id == merge.id).values(details=json.dumps(details)))
    return forgotten, names - {""}


def _their_failed_events(conn: Connection, person: _Person) -> tuple[list[int], set[str], set[str]]:
    """The failed events they sent (a Matrix event's sender, a mention's author): their rows, the
    names those give them, and the ids of their messages."""
    ids, names, events = [], set(), set()
    query = select(failed_events.c.id, failed_events.c.place, failed_events.c.event_id, failed_events.c.payload)
    for row in conn.execute(query.where(failed_events.c.payload.is_not(None))).all():
        payload = _json(row.payload)
        if not isinstance(payload, dict):
            continue
        if person.is_(payload.get("sender")):  # a Matrix event
            ids.append(row.id)
            events.add(row.event_id)
            continue
        author = payload.get("account")  # a Mastodon notification
        if isinstance(author, dict):
            acct = str(author.get("acct") or author.get("username") or "")
            if person.is_(acct if "@" in acct else f"{acct}@{row.place}"):
                ids.append(row.id)
                names.add(str(author.get("display_name") or ""))
                status = payload.get("status")
                if isinstance(status, dict):
                    events.add(str(status.get("uri") or status.get("url") or ""))
    return ids, names - {""}, events


def _unname_links(conn: Connection, rows, removed: set[int]) -> None:
    """A link others still share keeps no URL, title or description that only their shares gave
    it (the URL as first posted may carry their trackers); its search text is rebuilt then."""
    theirs: dict[int, list] = {}
    for row in rows:
        if row.link_id not in removed:
            theirs.setdefault(row.link_id, []).append(row)
    for link_id, gone in theirs.items():
        link = conn.execute(select(links.c.url, links.c.title, links.c.description).where(links.c.id == link_id)).one()
        left = conn.execute(select(shares.c.url, shares.c.title, shares.c.description)
                            .where(shares.c.link_id == link_id).order_by(shares.c.shared_at, shares.c.id)).all()
        changes = {}
        for field in ("url", "title", "description"):
            value = getattr(link, field)
            if value is not None and value in {getattr(row, field) for row in gone} \
                    and value not in {getattr(row, field) for row in left}:
                changes[field] = next((getattr(row, field) for row in left if getattr(row, field)), None)
        if changes:
            conn.execute(update(links).where(links.c.id == link_id).values(**changes))
            rebuild_search_document(conn, link_id)


def _scrub_outbox(conn: Connection, named: re.Pattern[str], events: set[str]) -> tuple[int, set[str]]:
    """Answers that name them or answer a message of theirs: dropped when not sent, emptied when
    sent (the key and the server's id stay, for exactly-once, until sent answers are pruned).
    How many, and the statuses answered (their URIs name them)."""
    count, answered = 0, set()
    for row in conn.execute(select(outbox.c.id, outbox.c.payload, outbox.c.sent_at)
                            .where(outbox.c.payload != "{}")).all():
        payload = _json(row.payload)
        if not _concerns(row.payload if payload is None else payload, named, events):
            continue
        if isinstance(payload, dict) and isinstance(payload.get("uri"), str):
            answered.add(payload["uri"])
        if row.sent_at is None:
            conn.execute(delete(outbox).where(outbox.c.id == row.id))
        else:
            conn.execute(update(outbox).where(outbox.c.id == row.id).values(payload="{}"))
        count += 1
    return count, answered


def _scrub_failed_events(conn: Connection, theirs: list[int], named: re.Pattern[str], events: set[str],
                         pseudonym: str) -> int:
    """Their failed events go (a retry would replay them as them); another's that names them
    keeps its row without the event (it cannot be retried: `watchbot failed forget` closes it).
    A reason naming them names the pseudonym. How many of theirs went."""
    count = conn.execute(delete(failed_events).where(failed_events.c.id.in_(theirs))).rowcount
    for row in conn.execute(select(failed_events.c.id, failed_events.c.payload, failed_events.c.reason)).all():
        changes: dict[str, Any] = {}
        if row.payload is not None:
            payload = _json(row.payload)
            if _concerns(row.payload if payload is None else payload, named, events):
                changes["payload"] = None
        reason = named.sub(pseudonym, row.reason)
        if reason != row.reason:
            changes["reason"] = reason
        if changes:
            conn.execute(update(failed_events).where(failed_events.c.id == row.id).values(**changes))
    return count


def _keep_ban_hashed(conn: Connection, person: _Person) -> bool:
    """A ban of theirs stays, under a hash of the account (the gate looks for both): whether
    they are banned."""
    hashed = hashed_account(person.account)
    plain = conn.execute(select(bans.c.account).where(person.held_in(bans.c.account))).scalars().all()
    already = conn.execute(select(bans.c.account).where(bans.c.account == hashed)).first() is not None
    if plain and not already:
        conn.execute(update(bans).where(bans.c.account == plain[0]).values(account=hashed))
        plain, already = plain[1:], True
    if plain:
        conn.execute(delete(bans).where(bans.c.account.in_(plain)))
    return already


def _rename(conn: Connection, person: _Person, named: re.Pattern[str], pseudonym: str) -> None:
    """Who decided or set something names the pseudonym; so does a reason, or a room's name
    (a direct chat is named after the person in it), that named them."""
    for table, column in ((bans, bans.c.actor), (blocked_domains, blocked_domains.c.actor),
                          (feeds, feeds.c.added_by), (rooms, rooms.c.overridden_by),
                          (review_queue, review_queue.c.decided_by), (cursors, cursors.c.value)):
        conn.execute(update(table).where(person.held_in(column)).values({column.name: pseudonym}))
    for key, column in ((bans.c.account, bans.c.reason), (blocked_domains.c.pattern, blocked_domains.c.reason),
                        (reports.c.id, reports.c.reason), (rooms.c.room_id, rooms.c.name)):
        for row_key, text in conn.execute(select(key, column).where(column.is_not(None))).all():
            rewritten = named.sub(pseudonym, text)
            if rewritten != text:
                conn.execute(update(key.table).where(key == row_key).values({column.name: rewritten}))


def _scrub_log(conn: Connection, account: str, *, named: re.Pattern[str] | None = None, names: Iterable[str] = (),
               pseudonym: str | None = None) -> str:
    """Every log row naming `account` (as who acted, in what was acted on, in a reason), or one
    of `names` (`named` matches them all), names a pseudonym instead, and the pseudonym is
    returned. It is random, kept nowhere beside the log: nothing leads from it back to the
    account, while one person's rows still read as one person's (a hash of the account could be
    recomputed from a guess)."""
    pseudonym = pseudonym or f"forgotten-{secrets.token_hex(4)}"
    named = named or naming(account)
    needles = [needle for needle in dict.fromkeys([account, *names]) if needle.strip()]
    columns = (moderation_log.c.actor, moderation_log.c.target, moderation_log.c.reason)
    # Read only rows that may name them (SQLite's lower() folds ASCII only: each spelling as
    # written too); the pattern decides. The columns it needs, named: migration 0014 runs this
    # before later columns exist.
    maybe = [condition for column in columns for needle in needles
             for condition in (func.lower(column).contains(needle.lower(), autoescape=True),
                               column.contains(needle, autoescape=True))]
    rows = conn.execute(select(moderation_log.c.id, *columns).where(or_(*maybe))).all()
    for row in rows:
        changed = {"actor": pseudonym if row.actor == account else named.sub(pseudonym, row.actor),
                   "target": named.sub(pseudonym, row.target),
                   "reason": named.sub(pseudonym, row.reason) if row.reason is not None else None}
        if changed != {"actor": row.actor, "target": row.target, "reason": row.reason}:
            conn.execute(update(moderation_log).where(moderation_log.c.id == row.id).values(**changed))
    return pseudonym


def _json(text: str | None) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None


def _concerns(value: Any, named: re.Pattern[str], events: set[str]) -> bool:
    """Whether a stored answer or event (JSON values) names them or points at a message of theirs."""
    if isinstance(value, str):
        return named.search(value) is not None or any(event in value for event in events)
    if isinstance(value, dict):
        return any(_concerns(item, named, events) for item in value.values())
    if isinstance(value, list):
        return any(_concerns(item, named, events) for item in value)
    return False
