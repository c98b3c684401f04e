"""Intake: the one place that turns a Post into filed links, whatever network it came from.

`read_post` is pure: which links, which tags, what is wrong with the message. `file_post` asks the
store to record the result and says, per link, what happened. Adapters (the command line, Matrix,
Mastodon, feeds) only carry out the answer: print it, react, reply.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from watchbot.links import MAX_TAGS_PER_SHARE, InvalidURL, canonical_key, extract_hashtags, keyed_links, normalise_tags
from watchbot.model import Audience, Filed, NewShare, Owed, Post, Source, utcnow
from watchbot.published import clean_url
from watchbot.policy import Role
from watchbot.store import Store
from watchbot.store.cursors import set_cursor_in
from watchbot.store.links import LinkStore, file_shares_in, replace_event_shares_in
from watchbot.store.outbox import add_in

if TYPE_CHECKING:  # moderation imports intake's neighbours; only the type is needed here
    from sqlalchemy.engine import Connection

    from watchbot.moderation import Moderation


@dataclass(frozen=True, slots=True)
class Rules:
    """What intake needs to know from the settings."""

    tag_aliases: Mapping[str, str] = field(default_factory=dict)
    max_links_per_post: int = 20
    max_post_chars: int = 65_536

    @classmethod
    def from_settings(cls, settings) -> Rules:
        return cls(settings.tag_aliases, settings.max_links_per_post, settings.max_post_chars)


@dataclass(frozen=True, slots=True)
class Reading:
    """What a post says, before the store is asked anything."""

    links: tuple[tuple[str, str], ...]  # (url as posted, canonical key), in order, no duplicates
    tags: tuple[str, ...]
    problems: tuple[str, ...]  # one sentence each, for the sharer
    notes: tuple[str, ...] = ()  # what was left out of what is filed (tags past the bound), for the sharer


def refused_for_length(post: Post, rules: Rules) -> str | None:
    """The one sentence that refuses a post too long to read, or None. Asked before anything of
    the post is parsed: here, and by a network that reads a post before intake does."""
    size = len(post.text) + len(post.html or "")
    if size <= rules.max_post_chars:
        return None
    return (f"This message is too long for me to read ({size:,} characters, the limit is "
            f"{rules.max_post_chars:,}); share the links in a shorter message.")


def read_post(post: Post, rules: Rules) -> Reading:
    refusal = refused_for_length(post, rules)
    if refusal is not None:
        return Reading((), (), (refusal,))
    problems: list[str] = []
    if post.links:
        found: dict[str, str] = {}  # key -> url as posted, first occurrence wins
        for url in post.links:
            try:
                found.setdefault(canonical_key(url), url)
            except InvalidURL as error:
                problems.append(f"{_shorten(url)}: {error}")
        links = [(url, key) for key, url in found.items()]
    else:  # keyed once, as they were found
        links = keyed_links(post.text, post.html)
    if len(links) > rules.max_links_per_post:
        problems.append(
            f"This message has {len(links)} links; I filed the first {rules.max_links_per_post} "
            "(post the others separately)."
        )
        links = links[: rules.max_links_per_post]
    raw_tags = [*post.extra_tags, *extract_hashtags(post.text)]
    tags = normalise_tags(raw_tags, rules.tag_aliases)
    left_out = tags[MAX_TAGS_PER_SHARE:]
    notes = (tags_left_out(left_out),) if left_out else ()
    return Reading(tuple(links), tags[:MAX_TAGS_PER_SHARE], tuple(problems), notes)


def tags_left_out(tags: Sequence[str]) -> str:
    """The one line saying which tags past MAX_TAGS_PER_SHARE were not kept."""
    return (f"Only {MAX_TAGS_PER_SHARE} tags are kept per link: {' '.join('#' + tag for tag in tags)} "
            f"{'was' if len(tags) == 1 else 'were'} left out.")


class Outcome(StrEnum):
    FILED = "filed"  # a link the store did not have
    DUPLICATE = "duplicate"  # the link was shared before; this share is counted too
    REPLAYED = "replayed"  # this very message was filed before (a redelivered event)


@dataclass(frozen=True, slots=True)
class LinkResult:
    url: str
    outcome: Outcome
    filed: Filed


@dataclass(frozen=True, slots=True)
class IntakeResult:
    post: Post
    results: tuple[LinkResult, ...]
    problems: tuple[str, ...]
    held: int | None = None  # waits in the review queue as this id
    ignored: bool = False  # a banned author: nothing filed, nothing to answer
    notes: tuple[str, ...] = ()  # filed, but with something left out (Reading.notes): said, not refused

    @property
    def filed_anything(self) -> bool:
        return any(r.outcome is not Outcome.REPLAYED for r in self.results)


Answers = Callable[["IntakeResult"], Iterable[Owed]]


@dataclass(frozen=True, slots=True)
class Filing:
    """One message of a batch (file_posts): the post, its author's role, what the bot owes for it."""

    post: Post
    role: Role = Role.MEMBER
    answers: Answers | None = None


async def file_post(
    store: Store, post: Post, rules: Rules, *, cursor: tuple[str, str] | None = None,
    gate: Moderation | None = None, role: Role = Role.MEMBER, answers: Answers | None = None,
) -> IntakeResult:
    """File every link of `post` in one transaction (with the source's cursor, when given).
    With a `gate`, moderation decides first what may be filed (`role`: the author's; the ban is
    read by the gate, so `Moderation.role_unread` is enough), its reads inside the same
    transaction: one hop to the store's thread in all. `answers(result)` (pure) gives what the
    bot owes for it: written to the outbox in the same transaction as the filing and the cursor,
    so a crash loses neither, nor sends one twice."""
    results = await file_posts(store, [Filing(post, role, answers)], rules, gate=gate, cursor=cursor)
    return results[0]


async def file_posts(store: Store, filings: Sequence[Filing], rules: Rules, *, gate: Moderation | None = None,
                     cursor: tuple[str, str] | None = None) -> list[IntakeResult]:
    """File several messages in order, in one transaction (a page of backfill after downtime):
    each as file_post would, their answers owed and the cursor moved with them. If it raises,
    nothing of the batch is kept: the caller files them one by one to find the one at fault."""
    readings = [read_post(filing.post, rules) for filing in filings]  # pure: before the store's thread

    def file(conn: Connection) -> list[IntakeResult]:
        results, owed = [], []
        for filing, reading in zip(filings, readings, strict=True):
            result = _file_in(conn, filing.post, reading, gate, filing.role)
            if filing.answers is not None:
                owed += filing.answers(result)
            results.append(result)
        add_in(conn, owed, utcnow())
        if cursor is not None:
            set_cursor_in(conn, *cursor)
        return results

    return await LinkStore(store).file_in_one(file)


def _file_in(conn: Connection, post: Post, reading: Reading, gate: Moderation | None,
             role: Role) -> IntakeResult:
    reading, stopped = _through_gate(conn, post, reading, gate, role)
    if stopped is not None:
        return stopped  # a held post's entry is made once (a replay finds it): its answer is the same again
    new_shares = _new_shares(post, reading)
    filed = file_shares_in(conn, new_shares) if new_shares else []
    return _result(post, reading, new_shares, filed)


async def refile_post(store: Store, post: Post, rules: Rules, *, gate: Moderation | None = None,
                      role: Role = Role.MEMBER, answers: Answers | None = None) -> tuple[IntakeResult, list[int]]:
    """An edited message (`post` carries the original's event id and the new text): its shares
    become those of the new text. Returns the result and the ids of links that no longer exist.
    With a `gate`, the edit passes moderation as a new message would (an edit is no way around a
    ban, a block, a limit or the review queue). `answers` as for file_post; one transaction."""
    reading = read_post(post, rules)

    def refile(conn: Connection) -> tuple[IntakeResult, list[int]]:
        screened, stopped = _through_gate(conn, post, reading, gate, role)
        removed: list[int] = []
        if stopped is not None:
            result = stopped
        else:
            new_shares = _new_shares(post, screened)
            filed, removed = replace_event_shares_in(conn, post.source, post.event_id, new_shares)
            result = _result(post, screened, new_shares, filed)
        if answers is not None:
            add_in(conn, answers(result), utcnow())
        return result, removed

    return await LinkStore(store).file_in_one(refile)


def _through_gate(conn: Connection, post: Post, reading: Reading, gate: Moderation | None,
                  role: Role) -> tuple[Reading, IntakeResult | None]:
    """What moderation lets through (the reading, with its links screened), or the result of a
    post stopped there: ignored (banned), refused (a limit), or held for review. Read and
    written in the filing's transaction."""
    if gate is None:
        return reading, None
    verdict = gate.screen_in(conn, post, reading.links, role)
    if not (verdict.ignore or verdict.refuse or verdict.hold):
        return replace(reading, links=verdict.links, problems=reading.problems + verdict.problems), None
    held = gate.hold_in(conn, post) if verdict.hold else None
    problems = verdict.problems + ((verdict.refuse,) if verdict.refuse else ())
    if held is not None:
        problems += (f"Thanks! As you are new here, a moderator will look at this first (#{held}).",)
    return reading, IntakeResult(post, (), () if verdict.ignore else reading.problems + problems, held,
                                 verdict.ignore)


def _new_shares(post: Post, reading: Reading) -> list[NewShare]:
    return [
        NewShare(
            url=url,
            key=key,
            sharer_id=post.author_id,
            sharer_name=post.author_name,
            source=post.source,
            place=post.place,
            event_id=post.event_id,
            visibility=post.visibility,
            shared_at=post.at,
            note=post.note,
            tags=reading.tags,
            title=post.title,
            description=post.description,
            after_earlier_shares=post.source is Source.FEED,
        )
        for url, key in reading.links
    ]


def _result(post: Post, reading: Reading, new_shares: list[NewShare], filed: list[Filed]) -> IntakeResult:
    results = tuple(LinkResult(new.url, _outcome(f), f) for new, f in zip(new_shares, filed, strict=True))
    # A replay (the same message filed before) was told then.
    fresh = any(result.outcome is not Outcome.REPLAYED for result in results)
    return IntakeResult(post, results, reading.problems, notes=reading.notes if fresh else ())


def _outcome(filed: Filed) -> Outcome:
    if not filed.new_share:
        return Outcome.REPLAYED
    return Outcome.FILED if filed.new_link else Outcome.DUPLICATE


def describe(result: LinkResult, zone: ZoneInfo) -> str:
    """One sentence for the sharer about one link, said where they shared it: it names only
    earlier sharers whom that place may see (Audience.of_share); others count without a name."""
    link, share = result.filed.link, result.filed.share
    url = clean_url(result.url)
    if result.outcome is Outcome.FILED:
        tags = f" [{', '.join(share.tags)}]" if share.tags else ""
        return f"Filed #{link.id} {url}{tags}."
    if result.outcome is Outcome.REPLAYED:
        return f"Already filed from this message: #{link.id} {url}."
    audience = Audience.of_share(share)
    first = next((s for s in result.filed.shares if audience.sees(s)), share)
    if first.id == share.id:  # what came before was shared where this place may not see it
        return f"Shared before by someone (#{link.id}); your share is counted too."
    day = first.shared_at.astimezone(zone).strftime("%Y-%m-%d")
    if first.sharer_id == share.sharer_id:
        return f"You already shared #{link.id} on {day}; counted again."
    return f"Already shared by {first.sharer_name} on {day} (#{link.id}); your share is counted too."


def _shorten(url: str, limit: int = 80) -> str:
    return url if len(url) <= limit else url[: limit - 1] + "…"
