"""Moderation against a real store (SQLite and PostgreSQL): the gate every share passes, the
moderators' commands, and who may use them (the permission matrix, network-agnostic; the
adapters' part is in tests of their own)."""

from __future__ import annotations

from datetime import timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from watchbot.commands import Caller, parse_command, run_command
from watchbot.commands.registry import refusal_of
from watchbot.config import Settings
from watchbot.intake import Rules, file_post
from watchbot.moderation import Moderation, ModerationOptions
from watchbot.model import Post, Source, utcnow
from watchbot.policy import Power, Role, elsewhere, not_a_moderator
from watchbot.store import Store
from watchbot.store.links import LinkStore
from watchbot.store.schema import moderation_log

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


# -- the gate -------------------------------------------------------------------------------------


async def test_a_banned_person_is_ignored_until_unbanned_and_an_admin_cannot_be_banned(store: Store):
    gate = moderation(store)
    assert "Banned @spammer:x" in (await ask(store, gate, MOD, "!watch ban @spammer:x selling pills")).text
    ignored = await share(store, gate, "https://pills.example/", "@spammer:x")
    assert ignored.ignored and not ignored.results and not ignored.problems  # nothing to feed a troll
    assert await LinkStore(store).count_links() == 0
    assert "cannot be banned" in (await ask(store, gate, MOD, "!watch ban @root:x")).text
    assert "may share again" in (await ask(store, gate, MOD, "!watch unban @spammer:x")).text
    assert (await share(store, gate, "https://fine.example/", "@spammer:x")).results


async def test_blocked_domains_are_not_filed_even_from_moderators_and_wildcards_take_subdomains(store: Store):
    gate = moderation(store)
    assert "Blocked *.spam.example" in (await ask(store, gate, MOD, "!watch block *.spam.example")).text
    result = await share(store, gate, "https://good.example/ https://www.spam.example/x", MOD.user_id, Role.MODERATOR)
    assert [r.url for r in result.results] == ["https://good.example/"]
    assert result.problems == ("Not filed: www.spam.example is blocked here (*.spam.example).",)
    await ask(store, gate, MOD, "!watch unblock *.spam.example")
    assert (await share(store, gate, "https://www.spam.example/y")).results


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
    assert "Rejected" in (await ask(store, gate, MOD, f"!watch reject {again.held}")).text
    assert "Nothing waits for review as" in (await ask(store, gate, MOD, f"!watch approve {again.held}")).text
    assert [link.url for link in await LinkStore(store).list_links()] == ["https://new.example/1"]
    # Two decided: the third share is not held (they have been seen).
    assert (await share(store, gate, "https://new.example/3", "@newbie:x")).results
    # Moderators are never held.
    assert (await share(store, gate, "https://new.example/m", "@mod2:x", Role.MODERATOR)).results


async def test_reports_reach_the_moderators_and_everything_is_in_the_log(store: Store):
    gate = moderation(store)
    await share(store, gate, "https://dubious.example/")
    reply = await ask(store, gate, MEMBER, "!watch report 1 looks like spam")
    assert reply.text == "Thank you: the moderators were told."
    assert reply.for_moderators == ("Report on #1 https://dubious.example/: looks like spam "
                                    "(rm 1 removes it; a room's moderators may remove that room's shares)")
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
    assert "Usage: forget me" in (await ask(store, gate, MEMBER, "!watch forget bob")).text


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
    assert "the moderation log keeps what was done under a pseudonym" in said
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


# -- the permission matrix -------------------------------------------------------------------------

STORE_WIDE = ["ban @x:y", "unban @x:y", "block spam.example", "unblock spam.example", "modlog"]
ROOM_SCOPED = ["approve 1", "reject 1"]  # queue #1 waits in !room:x
EVERYONE = ["help", "search example", "recent", "top", "tags", "show 1", "digest preview", "report 1 spam"]
CALLERS = [ADMIN, MOD, ROOM_MOD, OTHER_ROOM_MOD, MEMBER]
CALLER_IDS = ["admin", "moderators' room", "room moderator", "another room's moderator", "member"]


@pytest.mark.parametrize("command", STORE_WIDE + ROOM_SCOPED)
@pytest.mark.parametrize("caller", CALLERS, ids=CALLER_IDS)
async def test_what_reaches_every_room_is_for_admins_and_the_moderators_room_and_a_rooms_queue_for_its_own(
        store: Store, command: str, caller: Caller):
    gate = moderation(store, review_first_shares=1)
    await share(store, gate, "https://held.example/", "@newbie:x")  # queue #1, in !room:x
    answer = (await ask(store, gate, caller, f"!watch {command}")).text
    name = command.split()[0]
    refusal = {
        (True, ROOM_MOD): refusal_of(name), (True, OTHER_ROOM_MOD): refusal_of(name),
        (True, MEMBER): refusal_of(name),
        (False, OTHER_ROOM_MOD): elsewhere(name, "#1", held=True), (False, MEMBER): not_a_moderator(name),
    }.get((command in STORE_WIDE, caller))
    if refusal is not None:
        assert answer == refusal and "\n" not in answer
        assert not await gate.records.is_banned("@x:y") and await gate.records.blocked_patterns() == []
        assert [h.id for h in await gate.records.waiting()] == [1]
    else:
        assert answer.startswith(("Banned", "@x:y was not", "Blocked", "spam.example was not",
                                  "The moderation log is empty.",
                                  "Approved #1", "Rejected #1")), answer


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


@pytest.mark.parametrize("command", EVERYONE)
@pytest.mark.parametrize("caller", [ADMIN, MOD, MEMBER], ids=["admin", "moderator", "member"])
async def test_everyday_commands_work_for_everyone(store: Store, command: str, caller: Caller):
    gate = moderation(store)
    await share(store, gate, "https://example.com/ #web")
    answer = (await ask(store, gate, caller, f"!watch {command}")).text
    assert answer and not answer.startswith(("Only moderators", "I do not know")), answer


async def test_a_member_may_take_back_only_their_own_share(store: Store):
    gate = moderation(store)
    await share(store, gate, "https://a.example/", "@bob:x")
    assert (await ask(store, gate, MEMBER, "!watch rm 1")).text.startswith("#1: only the people who shared it")
    assert await LinkStore(store).count_links() == 1
    assert (await ask(store, gate, ADMIN, "!watch rm 1")).text == "Removed #1 and its 1 share(s)."


async def test_shares_of_a_day_ago_no_longer_count_for_the_hourly_limit(store: Store):
    gate = moderation(store, links_per_hour=1)
    await file_post(store, post("https://old.example/", at=utcnow() - timedelta(hours=2)), Rules())
    assert (await share(store, gate, "https://new.example/")).results
