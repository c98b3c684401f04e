"""The request budget that keeps the bot inside Mastodon's limits on its own side."""

from watchbot.networks.fediverse.budget import Budget


def test_a_budget_allows_its_limit_per_window_then_says_how_long_to_wait():
    budget = Budget(limit=3, window=300)
    for t in (0, 1, 2):
        assert budget.wait(t) == 0
        budget.spend(t)
    assert budget.wait(10) == 290  # the first use leaves the window at t=300
    assert budget.wait(300) == 0  # and then there is room again
    budget.spend(300)
    assert budget.wait(300.5) == 0.5  # the use at t=1 is next to leave
