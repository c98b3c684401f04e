"""Who may do what, and which links may be filed: pure."""

from __future__ import annotations

import pytest

from watchbot.policy import Limits, Role, allowed, blocked_by, domain_matches, normalise_pattern, over_limit, role_of


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
