"""Moderation against a real store (SQLite and PostgreSQL): the gate every share passes, the
moderators' commands, and who may use them (the permission matrix, network-agnostic; the
adapters' part is in tests of their own)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from watchbot.commands import Caller, Desk, DeskOptions, DigestOptions, parse_command, run_command
from watchbot.commands.registry import refusal_of
from watchbot.config import Settings
from watchbot.intake import Rules, file_post
from watchbot.model import Post, Source, utcnow
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.network import Networks, Offers
from watchbot.policy import Power, Role, elsewhere, heard, not_a_moderator
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.schema import bans, moderation_log, reports, review_queue

UTC = ZoneInfo("UTC")
ADMIN = Caller("@root:x", "root", Power(Role.ADMIN, "!other:x", store_wide=True))
MOD = Caller("@mod:x", "mod", Power(Role.MODERATOR, "!mods:x", store_wide=True))  # of the moderators' room
ROOM_MOD = Caller("@roommod:x", "roommod", Power(Role.MODERATOR, "!room:x"))  # where the posts below are
OTHER_ROOM_MOD = Caller("@othermod:x", "othermod", Power(Role.MODERATOR, "!other:x"))
MEMBER = Caller("@alice:x", "alice", Power(Role.MEMBER, "!room:x"))
_events = count(1)


def moderation(store: Store, **settings) -> Moderation:
    return Moderation(store, ModerationOptions.from_settings(Settings(_env_file=None, admins=["@root:x"], **settings)))


def post(text: str, who: str = "@alice:x", **more) -> Post:
    return Post(source=Source.MATRIX, place="!room:x", author_id=who, author_name=who.split(":")[0][1:],
                text=text, event_id=f"$m{next(_events)}", **more)


async def share(store: Store, gate: Moderation, text: str, who: str = "@alice:x", role: Role | None = None):
    return await file_post(store, post(text, who), Rules(), gate=gate,
                           role=role if role is not None else await gate.role(who))


async def ask(store: Store, gate: Moderation, caller: Caller, text: str):
    return await run_command(store, parse_command(text), caller, UTC, moderation=gate)


async def rows(store: Store, table) -> list[tuple]:
    return await store.read(lambda conn: [tuple(row) for row in conn.execute(table.select())])


async def filed_urls(store: Store) -> dict[str, tuple[str, ...]]:
    """Each link in the store, with its tags: what filing left behind."""
    return {link.url: link.tags for link in await LinkStore(store).list_links()}


async def sharers(store: Store) -> set[str]:
    return {share.sharer_id async for record in LinkStore(store).iter_records() for share in record.shares}


async def logged(gate: Moderation) -> list[str]:
    """The moderation log as actions, oldest first: "actor action target"."""
    return [f"{entry.actor} {entry.action} {entry.target}" for entry in reversed(await gate.records.log_entries())]


class Moderators:
    """A network that only listens for what the moderators are told (a report's notice)."""

    name = "test"
    offers = Offers(streaming=False, editing=False, reactions=False, drafts=False, rechecks=False)

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.told: list[tuple[str, str | None]] = []

    async def run(self) -> None: ...
    async def connect(self) -> None: ...
    async def close(self) -> None: ...
    def place_name(self, place: str) -> str:
        return place
    async def announce(self, text: str, html: str, *, key: str, public: bool = True) -> None: ...
    async def tell_moderators(self, text: str, *, place: str | None, key: str) -> None:
        self.told.append((text, place))
    def digest_outlets(self) -> list:
        return []
    def draft_outlets(self) -> list:
        return []
    async def recheck(self, uri: str) -> tuple[bool, int]:
        return True, 0


# -- the gate -------------------------------------------------------------------------------------


async def test_a_banned_person_is_ignored_until_unbanned_and_an_admin_cannot_be_banned(store: Store):
    gate = moderation(store)
    assert "Banned @spammer:x" in (await ask(store, gate, MOD, "!watch ban @spammer:x selling pills")).text
    assert await gate.records.is_banned("@spammer:x")
    ignored = await share(store, gate, "https://pills.example/", "@spammer:x")
    assert ignored.ignored and not ignored.results and not ignored.problems  # nothing to feed a troll
    # The gate reads the ban itself: a post whose author's role was read before the ban is ignored too.
    assert (await file_post(store, post("https://pills.example/2", "@spammer:x"), Rules(), gate=gate,
                            role=gate.role_unread("@spammer:x"))).ignored
    assert await LinkStore(store).count_links() == 0
    assert "cannot be banned" in (await ask(store, gate, MOD, "!watch ban @root:x")).text
    assert not await gate.records.is_banned("@root:x")
    assert "may share again" in (await ask(store, gate, MOD, "!watch unban @spammer:x")).text
    assert not await gate.records.is_banned("@spammer:x")
    assert (await share(store, gate, "https://fine.example/", "@spammer:x")).results
    assert await filed_urls(store) == {"https://fine.example/": ()}
    assert await logged(gate) == ["@mod:x ban @spammer:x", "@mod:x unban @spammer:x"]


async def test_blocked_domains_are_not_filed_even_from_moderators_and_wildcards_take_subdomains(store: Store):
    gate = moderation(store)
    assert "Blocked *.spam.example" in (await ask(store, gate, MOD, "!watch block *.spam.example")).text
    assert await gate.records.blocked_patterns() == ["*.spam.example"]
    result = await share(store, gate, "https://good.example/ https://www.spam.example/x", MOD.user_id, Role.MODERATOR)
    assert [r.url for r in result.results] == ["https://good.example/"]
    assert result.problems == ("Not filed: www.spam.example is blocked here (*.spam.example).",)
    assert (await share(store, gate, "https://spam.example/z")).problems == (
        "Not filed: spam.example is blocked here (*.spam.example).",)
    assert list(await filed_urls(store)) == ["https://good.example/"]
    assert "filed again" in (await ask(store, gate, MOD, "!watch unblock *.spam.example")).text
    assert await gate.records.blocked_patterns() == []
    assert (await share(store, gate, "https://www.spam.example/y")).results
    assert sorted(await filed_urls(store)) == ["https://good.example/", "https://www.spam.example/y"]
    assert await logged(gate) == ["@mod:x block *.spam.example", "@mod:x unblock *.spam.example"]


async def test_allow_list_mode_files_only_the_allowed_domains(store: Store):
    gate = moderation(store, allowed_domains=["rust-lang.org"])
    result = await share(store, gate, "https://blog.rust-lang.org/a https://elsewhere.example/")
    assert [r.url for r in result.results] == ["https://blog.rust-lang.org/a"]
    assert "only links to rust-lang.org are filed here" in result.problems[0]


async def test_a_burst_past_the_hourly_limit_is_refused_politely_once_then_silently(store: Store):
    gate = moderation(store, links_per_hour=3, links_per_day=10)
    filed = [await share(store, gate, f"https://burst.example/{n}") for n in range(3)]
    assert all(r.results for r in filed)
    refused = await share(store, gate, "https://burst.example/3")
    assert not refused.results and "You have shared 3 links in the last hour; the limit is 3" in refused.problems[0]
    quiet = await share(store, gate, "https://burst.example/4")  # told already: no answer to each message
    assert quiet.ignored and not quiet.problems
    assert await LinkStore(store).count_links() == 3
    # Moderators are not limited, and someone else is counted on their own.
    assert (await share(store, gate, "https://burst.example/mod", MOD.user_id, Role.MODERATOR)).results
    assert (await share(store, gate, "https://burst.example/bob", "@bob:x")).results


async def test_a_newcomers_first_shares_wait_for_a_moderator(store: Store):
    gate = moderation(store, review_first_shares=2)
    held = await share(store, gate, "https://new.example/1 #rust", "@newbie:x")
    assert held.held is not None and not held.results
    assert "a moderator will look at this first" in held.problems[-1]
    again = await share(store, gate, "https://new.example/2", "@newbie:x")
    assert await LinkStore(store).count_links() == 0
    queue = (await ask(store, gate, MOD, "!watch queue")).text
    assert f"#{held.held} newbie" in queue and f"#{again.held} newbie" in queue
    approved = (await ask(store, gate, MOD, f"!watch approve {held.held}")).text
    assert approved.startswith(f"Approved #{held.held} from newbie:") and "Filed #1 https://new.example/1 [rust]" in approved
    # Filed as it was posted, by its author, with its tags; out of the queue.
    assert await filed_urls(store) == {"https://new.example/1": ("rust",)}
    assert await sharers(store) == {"@newbie:x"}
    assert [h.id for h in await gate.records.waiting()] == [again.held]
    assert "Rejected" in (await ask(store, gate, MOD, f"!watch reject {again.held}")).text
    assert await gate.records.waiting() == []  # the queue is empty, and the rejected post was not filed
    assert "Nothing waits for review as" in (await ask(store, gate, MOD, f"!watch approve {again.held}")).text
    assert await filed_urls(store) == {"https://new.example/1": ("rust",)}
    assert {(row.id, row.state, row.decided_by) for row in await store.read(lambda conn: list(conn.execute(
        review_queue.select())))} == {(held.held, "approved", "@mod:x"), (again.held, "rejected", "@mod:x")}
    assert await logged(gate) == [f"@mod:x approve queue #{held.held} from @newbie:x",
                                  f"@mod:x reject queue #{again.held} from @newbie:x"]
    # Two decided: the third share is not held (they have been seen).
    assert (await share(store, gate, "https://new.example/3", "@newbie:x")).results
    # Moderators are never held.
    assert (await share(store, gate, "https://new.example/m", "@mod2:x", Role.MODERATOR)).results


async def test_reports_reach_the_moderators_and_everything_is_in_the_log(store: Store):
    gate = moderation(store)
    await share(store, gate, "https://dubious.example/")
    moderators, networks = Moderators(), Networks()
    networks.join(moderators)
    desk = Desk(store, DeskOptions(zone=UTC), moderation=gate, networks=networks)
    reply = await desk.answer(parse_command("!watch report 1 looks like spam"), MEMBER, key="$report")
    assert reply.text == "Thank you: the moderators were told."
    notice = ("Report on #1 https://dubious.example/: looks like spam "
              "(rm 1 removes it; a room's moderators may remove that room's shares)")
    assert reply.for_moderators == notice
    assert moderators.told == [(notice, "!room:x")]  # sent to the moderators, saying where it came from
    assert [row[1:4] for row in await rows(store, reports)] == [(1, "@alice:x", "looks like spam")]
    await ask(store, gate, MOD, "!watch block dubious.example")
    log = (await ask(store, gate, MOD, "!watch modlog")).text.splitlines()
    assert log[0].endswith("@mod:x block dubious.example") and log[1].endswith("@alice:x report link #1: looks like spam")


async def test_forget_me_removes_a_persons_shares_and_credits_and_nobody_elses(store: Store):
    gate = moderation(store)
    await share(store, gate, "https://mine.example/ https://both.example/")
    await share(store, gate, "https://both.example/", "@bob:x")
    said = (await ask(store, gate, MEMBER, "!watch forget me")).text
    assert said.startswith("Done: 2 share(s) of yours removed (1 link(s) nobody else shared went with them)")
    [left] = await LinkStore(store).list_links()
    assert (left.url, left.first_sharer_name) == ("https://both.example/", "bob")
    assert await sharers(store) == {"@bob:x"}  # every share of theirs gone, nobody else's
    assert "Usage: forget me" in (await ask(store, gate, MEMBER, "!watch forget bob")).text
    assert await sharers(store) == {"@bob:x"}


async def test_after_forget_me_the_log_keeps_each_action_under_a_pseudonym_and_never_the_name(store: Store):
    gate = moderation(store, review_first_shares=1)
    await ask(store, gate, MOD, "!watch ban @alice:x.org spam from @alice:x")  # another person, alike
    await share(store, gate, "https://held.example/")  # held: alice is new
    await ask(store, gate, ROOM_MOD, "!watch approve 1")
    await ask(store, gate, MEMBER, "!watch report 1 reported by @ALICE:x itself")
    await ask(store, gate, MOD, "!watch block spam.example @alice:x asked")
    before = (await ask(store, gate, MOD, "!watch modlog")).text
    assert before.count("@alice:x") >= 4

    said = (await ask(store, gate, MEMBER, "!watch forget me")).text
    assert "Kept: what was done, in the moderation log, under a pseudonym." in said
    log = (await ask(store, gate, MOD, "!watch modlog")).text
    dump = await store.read(lambda conn: [tuple(row) for row in conn.execute(moderation_log.select())])
    assert not any("alice:x" in str(value).lower().replace("alice:x.org", "") for row in dump for value in row)
    [pseudonym] = {word for line in log.splitlines() for word in line.replace(":", " ").split()
                   if word.startswith("forgotten-")}
    lines = log.splitlines()
    assert lines[0].endswith(f"{pseudonym} forget {pseudonym}: 1 share(s)")
    assert f"{pseudonym} report link #1: reported by {pseudonym} itself" in log
    assert f"@roommod:x approve queue #1 from {pseudonym}" in log
    assert f"@mod:x block spam.example: {pseudonym} asked" in log
    # The other person whose id only begins alike keeps theirs.
    assert f"@mod:x ban @alice:x.org: spam from {pseudonym}" in log


def test_a_banned_person_is_heard_for_forget_me_and_nothing_else():
    assert heard(Role.STRANGER, "forget", ("me",))
    assert not any(heard(Role.STRANGER, *said) for said in (("forget", ("bob",)), ("forget", ()), ("help", ()),
                                                            ("report", ("1",)), (None, ())))
    assert all(heard(role, "help") and heard(role, None) for role in (Role.MEMBER, Role.MODERATOR, Role.ADMIN))


async def test_a_banned_person_is_forgotten_and_stays_banned_under_a_hash_of_their_account(store: Store):
    gate = moderation(store)
    await share(store, gate, "https://before.example/", "@troll:x")
    await ask(store, gate, MOD, "!watch ban @troll:x flooding, as @troll:x said")
    troll = Caller("@troll:x", "troll", Power(Role.STRANGER, "!room:x"))
    said = (await ask(store, gate, troll, "!watch forget me")).text
    assert said.startswith("Done: 1 share(s) of yours removed")
    assert "Kept: what was done, in the moderation log, under a pseudonym, and the ban, under a hash" in said
    assert await gate.records.is_banned("@troll:x") and await gate.role("@troll:x") is Role.STRANGER
    assert (await share(store, gate, "https://after.example/", "@troll:x")).ignored
    kept = [value for table in (bans, moderation_log) for row in await rows(store, table) for value in row]
    assert not any("troll" in str(value) for value in kept)
    assert "was banned already" in (await ask(store, gate, MOD, "!watch ban @troll:x again")).text
    assert "may share again" in (await ask(store, gate, MOD, "!watch unban @troll:x")).text
    assert not await gate.records.is_banned("@troll:x") and await rows(store, bans) == []


async def test_a_fediverse_account_is_forgotten_however_its_server_spelt_it(store: Store):
    gate = moderation(store)
    await file_post(store, Post(source=Source.MASTODON, place="social.example", author_id="Gargron@Social.Example",
                                author_name="Eugen", text="", links=("https://spelt.example/",),
                                event_id="https://social.example/users/Gargron/statuses/1"), Rules(), gate=gate)
    forgotten = await gate.records.forget("@gargron@social.example", actor="cli:operator")
    assert (forgotten.shares, forgotten.links) == (1, 1) and await LinkStore(store).count_links() == 0
    assert (await logged(gate))[-1] == f"cli:operator forget {forgotten.pseudonym}"


# -- the permission matrix -------------------------------------------------------------------------

STORE_WIDE = ["ban @x:y", "unban @was:y", "block spam.example", "unblock was.example", "modlog"]
ROOM_SCOPED = ["approve 1", "reject 1"]  # queue #1 waits in !room:x
EVERYONE = ["help", "search example", "recent", "top", "tags", "show 1", "digest preview", "report 1 spam"]
CALLERS = [ADMIN, MOD, ROOM_MOD, OTHER_ROOM_MOD, MEMBER]
CALLER_IDS = ["admin", "moderators' room", "room moderator", "another room's moderator", "member"]


async def the_state(store: Store, gate: Moderation) -> dict:
    """What moderation's commands change: bans, the blocklist, the queue, what was filed."""
    return {"banned": {who for who in ("@x:y", "@was:y") if await gate.records.is_banned(who)},
            "blocked": await gate.records.blocked_patterns(), "waiting": [h.id for h in await gate.records.waiting()],
            "filed": await filed_urls(store)}


BEFORE = {"banned": {"@was:y"}, "blocked": ["was.example"], "waiting": [1], "filed": {}}
# What each command changes when its caller may run it (and nothing else).
AFTER = {
    "ban @x:y": {**BEFORE, "banned": {"@was:y", "@x:y"}},
    "unban @was:y": {**BEFORE, "banned": set()},
    "block spam.example": {**BEFORE, "blocked": ["spam.example", "was.example"]},
    "unblock was.example": {**BEFORE, "blocked": []},
    "modlog": BEFORE,
    "approve 1": {**BEFORE, "waiting": [], "filed": {"https://held.example/": ("news",)}},
    "reject 1": {**BEFORE, "waiting": []},
}


async def what_it_did(store: Store, gate: Moderation, command: str) -> None:
    """The command's effect seen where it matters: by the gate, on the next post."""
    if command == "ban @x:y":
        assert (await share(store, gate, "https://from-x.example/", "@x:y")).ignored
    elif command == "unban @was:y":
        again = await share(store, gate, "https://from-was.example/", "@was:y")
        assert not again.ignored and again.held is not None  # heard again (and new here: held for review)
    elif command == "block spam.example":
        refused = await share(store, gate, "https://spam.example/x", MOD.user_id, Role.MODERATOR)
        assert not refused.results and refused.problems == ("Not filed: spam.example is blocked here (spam.example).",)
    elif command == "unblock was.example":
        assert (await share(store, gate, "https://was.example/x", MOD.user_id, Role.MODERATOR)).results


@pytest.mark.parametrize("command", STORE_WIDE + ROOM_SCOPED)
@pytest.mark.parametrize("caller", CALLERS, ids=CALLER_IDS)
async def test_what_reaches_every_room_is_for_admins_and_the_moderators_room_and_a_rooms_queue_for_its_own(
        store: Store, command: str, caller: Caller):
    gate = moderation(store, review_first_shares=1)
    await share(store, gate, "https://held.example/ #news", "@newbie:x")  # queue #1, in !room:x
    await gate.records.ban("@was:y", actor="@root:x", reason="before")
    await gate.records.block("was.example", actor="@root:x", reason="before")
    assert await the_state(store, gate) == BEFORE
    answer = (await ask(store, gate, caller, f"!watch {command}")).text
    name = command.split()[0]
    refusal = {
        (True, ROOM_MOD): refusal_of(name), (True, OTHER_ROOM_MOD): refusal_of(name),
        (True, MEMBER): refusal_of(name),
        (False, OTHER_ROOM_MOD): elsewhere(name, "#1", held=True), (False, MEMBER): not_a_moderator(name),
    }.get((command in STORE_WIDE, caller))
    if refusal is not None:
        assert answer == refusal and "\n" not in answer
        assert await the_state(store, gate) == BEFORE
        return
    assert await the_state(store, gate) == AFTER[command], answer
    if command == "modlog":  # the actions, the latest first
        assert [line.split(" ", 2)[2] for line in answer.splitlines()] == [
            "@root:x block was.example: before", "@root:x ban @was:y: before"]
    else:
        assert (await logged(gate))[-1].startswith(f"{caller.user_id} {name} "), await logged(gate)
    await what_it_did(store, gate, command)


@pytest.mark.parametrize("caller, sees", [(ADMIN, True), (MOD, True), (ROOM_MOD, True), (OTHER_ROOM_MOD, False),
                                          (MEMBER, None)], ids=CALLER_IDS)
async def test_the_queue_shows_a_room_moderator_what_waits_from_their_room(store: Store, caller: Caller, sees):
    gate = moderation(store, review_first_shares=1)
    await share(store, gate, "https://held.example/", "@newbie:x")
    answer = (await ask(store, gate, caller, "!watch queue")).text
    if sees is None:
        assert answer == not_a_moderator("queue")
    else:
        assert answer.startswith("#1 newbie: https://held.example/") if sees else answer == "Nothing waits for review."


# What each everyday command must say of the one link shared: its answer, not a refusal.
EVERYDAY_SHOWS = {"help": "search WORDS", "search example": "#1 https://example.com/ [web]",
                  "recent": "#1 https://example.com/ [web]", "top": "#1 https://example.com/ [web]",
                  "tags": "web (1)", "show 1": "shared by alice", "digest preview": "- https://example.com/",
                  "report 1 spam": "Thank you: the moderators were told."}


@pytest.mark.parametrize("command", EVERYONE)
@pytest.mark.parametrize("caller", [ADMIN, MOD, MEMBER], ids=["admin", "moderator", "member"])
async def test_everyday_commands_work_for_everyone(store: Store, command: str, caller: Caller):
    gate = moderation(store)
    await share(store, gate, "https://example.com/ #web")
    two_days_ago = utcnow() - timedelta(days=2)  # a digest period holding what was just shared
    schedule = DigestOptions(schedule=f"{two_days_ago.minute} {two_days_ago.hour} {two_days_ago.day} "
                                      f"{two_days_ago.month} *")
    answer = (await run_command(store, parse_command(f"!watch {command}"), caller, UTC, schedule,
                                moderation=gate)).text
    assert EVERYDAY_SHOWS[command] in answer, answer
    reported = [row[1:3] for row in await rows(store, reports)]
    assert reported == ([(1, caller.user_id)] if command.startswith("report") else [])
    assert await filed_urls(store) == {"https://example.com/": ("web",)}  # reading changes nothing


async def test_a_member_may_take_back_only_their_own_share(store: Store):
    gate = moderation(store)
    await share(store, gate, "https://a.example/", "@bob:x")
    assert (await ask(store, gate, MEMBER, "!watch rm 1")).text.startswith("#1: only the people who shared it")
    assert await LinkStore(store).count_links() == 1
    assert (await ask(store, gate, ADMIN, "!watch rm 1")).text == "Removed #1 and its 1 share(s)."
    assert await LinkStore(store).get_link(1) is None and await LinkStore(store).count_links() == 0
    assert await logged(gate) == ["@root:x remove-link https://a.example/"]


async def test_shares_of_a_day_ago_no_longer_count_for_the_hourly_limit(store: Store):
    gate = moderation(store, links_per_hour=1)
    await file_post(store, post("https://old.example/", at=utcnow() - timedelta(hours=2)), Rules())
    assert (await share(store, gate, "https://new.example/")).results
