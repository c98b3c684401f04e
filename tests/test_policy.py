"""Who may do what, and which links may be filed: pure."""

from __future__ import annotations

import pytest

from watchbot.policy import (
    Limits,
    Power,
    Role,
    allowed,
    blocked_by,
    domain_matches,
    elsewhere,
    may_change,
    may_moderate,
    may_redact,
    normalise_pattern,
    not_a_moderator,
    over_limit,
    power_of,
    reaches_store,
    role_of,
)


@pytest.mark.parametrize("text, pattern", [
    ("Spam.Example", "spam.example"), ("*.spam.example", "*.spam.example"), ("spam.example.", "spam.example"),
    ("https://www.spam.example/page", "www.spam.example"), ("bücher.example", "xn--bcher-kva.example"),
    ("localhost", None), ("*.", None), ("not a domain", None), ("a..b", None), ("", None),
])
def test_domain_patterns_are_read_one_way(text, pattern):
    assert normalise_pattern(text) == pattern


def test_a_plain_domain_blocks_itself_and_a_wildcard_its_subdomains_too():
    assert domain_matches("spam.example", "spam.example")
    assert not domain_matches("www.spam.example", "spam.example")
    assert domain_matches("www.spam.example", "*.spam.example")
    assert domain_matches("spam.example", "*.spam.example")
    assert not domain_matches("notspam.example", "*.spam.example")  # a suffix, not a subdomain
    assert blocked_by("https://a.b.spam.example/x", ["other.example", "*.spam.example"]) == "*.spam.example"
    assert blocked_by("https://ok.example/", ["*.spam.example"]) is None


def test_allow_list_mode_takes_each_domain_with_its_subdomains():
    assert allowed("https://docs.rust-lang.org/book", ["rust-lang.org"])
    assert not allowed("https://rust-lang.org.evil.example/", ["rust-lang.org"])


def test_limits_say_which_one_was_reached_politely():
    limits = Limits(per_hour=5, per_day=20)
    assert over_limit(1, last_hour=4, last_day=4, limits=limits) is None
    assert "in the last hour; the limit is 5" in over_limit(2, last_hour=4, last_day=4, limits=limits)
    assert "today; the limit is 20 a day" in over_limit(1, last_hour=0, last_day=20, limits=limits)


def test_roles():
    admins = ["@root:x", "root@social.example"]
    assert role_of("@root:x", admins=admins, moderator=False, banned=True) is Role.ADMIN  # never locked out
    assert role_of("@mod:x", admins=admins, moderator=True, banned=False) is Role.MODERATOR
    assert role_of("@mod:x", admins=admins, moderator=True, banned=True) is Role.STRANGER
    assert role_of("bob@social.example", admins=admins, moderator=False, banned=False) is Role.MEMBER


ROOM_A, ROOM_B, MODS = "!a:x", "!b:x", "!mods:x"
MEMBER_OF_A = power_of(Role.MEMBER, ROOM_A, moderators_place=False)
MOD_OF_A = power_of(Role.MODERATOR, ROOM_A, moderators_place=False)
MOD_OF_B = power_of(Role.MODERATOR, ROOM_B, moderators_place=False)
MOD_OF_MODS = power_of(Role.MODERATOR, MODS, moderators_place=True)  # the moderators' room
ADMIN_IN_B = power_of(Role.ADMIN, ROOM_B, moderators_place=False)
MEMBER_OF_MODS = power_of(Role.MEMBER, MODS, moderators_place=True)


@pytest.mark.parametrize("power, on_a, store_wide", [
    (MEMBER_OF_A, False, False),
    (MOD_OF_A, True, False),
    (MOD_OF_B, False, False),
    (MOD_OF_MODS, True, True),
    (ADMIN_IN_B, True, True),
    (MEMBER_OF_MODS, False, False),  # the moderators' room gives power to its moderators only
    (Power(Role.STRANGER, ROOM_A, store_wide=True), False, False),
], ids=["member of A", "moderator of A", "moderator of B", "moderators' room", "admin", "member of the "
        "moderators' room", "banned"])
def test_a_rooms_moderators_act_on_that_room_and_only_admins_and_the_moderators_room_on_everything(
        power: Power, on_a: bool, store_wide: bool):
    assert may_moderate(power, ROOM_A) is on_a
    assert reaches_store(power) is store_wide


def test_anyone_may_change_their_own_shares_and_moderators_those_of_the_places_they_moderate():
    assert may_change(MEMBER_OF_A, "@alice:x", "@alice:x", ROOM_B)  # hers, wherever she shared it
    assert not may_change(MEMBER_OF_A, "@alice:x", "@bob:x", ROOM_A)
    assert may_change(MOD_OF_A, "@mod:x", "@bob:x", ROOM_A)
    assert not may_change(MOD_OF_B, "@mod:x", "@bob:x", ROOM_A)
    assert may_change(MOD_OF_MODS, "@mod:x", "@bob:x", ROOM_A)


def test_a_redaction_takes_shares_only_in_their_own_room_from_their_author_or_its_moderators():
    assert may_redact(MEMBER_OF_A, "@alice:x", "@alice:x", ROOM_A)
    assert not may_redact(MEMBER_OF_A, "@bob:x", "@alice:x", ROOM_A)
    assert may_redact(MOD_OF_A, "@bob:x", "@mod:x", ROOM_A)
    # Sent in room B, naming room A's event: nobody's, not even its author's or an admin's.
    assert not may_redact(MOD_OF_B, "@bob:x", "@mod:x", ROOM_A)
    assert not may_redact(power_of(Role.MEMBER, ROOM_B, moderators_place=False), "@alice:x", "@alice:x", ROOM_A)
    assert not may_redact(ADMIN_IN_B, "@bob:x", "@root:x", ROOM_A)
    assert may_redact(power_of(Role.ADMIN, ROOM_A, moderators_place=False), "@bob:x", "@root:x", ROOM_A)


# -- what mutation testing found unchecked (docs/mutation.md) ---------------------------------------

@pytest.mark.parametrize("text", ["spam_site.example", "spam site.example", "-.example", "x.-"])
def test_a_pattern_whose_labels_are_not_letters_digits_and_hyphens_is_refused(text):
    assert normalise_pattern(text) is None


def test_a_label_of_63_characters_is_a_domain_and_one_of_64_is_not():
    assert normalise_pattern("a" * 63 + ".example") == "a" * 63 + ".example"
    assert normalise_pattern("a" * 64 + ".example") is None


def test_a_host_written_with_its_trailing_dot_is_blocked_all_the_same():
    assert blocked_by("https://spam.example./x", ["spam.example"]) == "spam.example"
    assert blocked_by("https://www.spam.example./x", ["*.spam.example"]) == "*.spam.example"
    assert allowed("https://docs.rust-lang.org./book", ["rust-lang.org"])


def test_an_allow_list_entry_written_as_a_wildcard_allows_the_same_domains():
    assert allowed("https://docs.rust-lang.org/book", ["*.rust-lang.org"])
    assert allowed("https://rust-lang.org/", ["*.rust-lang.org"])
    assert not allowed("https://rust-lang.org.evil.example/", ["*.rust-lang.org"])


def test_the_20th_link_of_the_day_is_filed_and_the_21st_is_refused_until_tomorrow():
    limits = Limits(per_hour=5, per_day=20)
    assert over_limit(1, last_hour=0, last_day=19, limits=limits) is None
    assert over_limit(1, last_hour=0, last_day=20, limits=limits) == (
        "You have shared 20 links today; the limit is 20 a day. Please share the rest tomorrow.")
    assert over_limit(2, last_hour=4, last_day=4, limits=limits) == (
        "You have shared 4 links in the last hour; the limit is 5. Please share the rest a little later.")


def test_the_refusals_say_who_may_and_where_the_thing_was():
    assert not_a_moderator("ban") == ("Only moderators may use “ban”: a room's moderators in that room, admins "
                                      "and the moderators' room everywhere.")
    assert elsewhere("remove", "#3") == ("Only the moderators of the room it was shared in, the moderators' room "
                                         "or an admin may remove #3: it was shared in another room.")
    assert elsewhere("approve", "this post", held=True) == (
        "Only the moderators of the room it was posted in, the moderators' room or an admin may approve "
        "this post: it was posted in another room.")


def test_store_wide_power_belongs_to_admins_everywhere_and_to_the_moderators_rooms_moderators():
    # Built here rather than at import, as the parametrised test's powers are: what power_of says
    # when the test runs is what is checked.
    assert reaches_store(power_of(Role.ADMIN, ROOM_B, moderators_place=False))
    assert reaches_store(power_of(Role.MODERATOR, MODS, moderators_place=True))
    assert not reaches_store(power_of(Role.MODERATOR, ROOM_A, moderators_place=False))
    assert not reaches_store(power_of(Role.MEMBER, MODS, moderators_place=True))
    assert may_moderate(power_of(Role.MODERATOR, MODS, moderators_place=True), ROOM_A)
    assert not may_moderate(power_of(Role.MODERATOR, ROOM_B, moderators_place=False), ROOM_A)
