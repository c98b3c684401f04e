"""Redirect wrappers are read, not followed: the link filed is the page behind them."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from watchbot.enrich.wrappers import MAX_NESTING, unwrap

TARGET = "https://example.com/path?a=1&b=2"


@pytest.mark.parametrize(
    ("wrapper", "target"),
    [
        # Google: Docs, Gmail and Calendar put the target in q=, search results in url= (q blank).
        ("https://www.google.com/url?q=https://example.com/path&sa=D&source=editors&usg=AOv",
         "https://example.com/path"),
        ("https://www.google.com/url?sa=t&rct=j&q=&esrc=s&source=web&cd=1&ved=2ahUKE"
         "&url=https%3A%2F%2Fexample.com%2Fpath%3Fa%3D1%26b%3D2&usg=AOvVaw1",
         TARGET),
        ("https://www.google.co.uk/url?q=https%3A%2F%2Fexample.com%2Fpath%3Fa%3D1%26b%3D2", TARGET),
        ("https://www.google.com.au/url?url=https://example.com/", "https://example.com/"),
        ("https://google.de/url?q=http://example.com/", "http://example.com/"),
        ("http://www.google.fr/url?q=https://example.com/", "https://example.com/"),
        # Google's AMP viewer: /amp/s/ is https, /amp/ http; its own parameters are left behind.
        ("https://www.google.com/amp/s/example.com/path", "https://example.com/path"),
        ("https://www.google.com/amp/s/www.example.com/news/story.amp.html?usqp=mq331AQIKAGw%3D",
         "https://www.example.com/news/story.amp.html"),
        ("https://www.google.com/amp/s/example.com/path?a=1&b=2#amp_tf=From%20%251%24s&aoh=1",
         TARGET),
        ("https://www.google.com/amp/example.com/path", "http://example.com/path"),
        # The AMP cache: /c/ serves the page, /v/ the viewer.
        ("https://example-com.cdn.ampproject.org/c/s/example.com/path", "https://example.com/path"),
        ("https://example-com.cdn.ampproject.org/v/s/example.com/path?amp_js_v=0.1&usqp=mq331AQ",
         "https://example.com/path"),
        ("https://www-example-com.cdn.ampproject.org/c/www.example.com/a.html",
         "http://www.example.com/a.html"),
        # Facebook's link shim, on the web and in its mobile site.
        ("https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2Fpath%3Fa%3D1%26b%3D2"
         "&h=AT3kF0Z&__tn__=-UK-R&c[0]=AT1", TARGET),
        ("https://lm.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2F&h=AT0",
         "https://example.com/"),
        # YouTube's description links.
        ("https://www.youtube.com/redirect?event=video_description&redir_token=QUFFLUhq"
         "&q=https%3A%2F%2Fexample.com%2Fpath%3Fa%3D1%26b%3D2&v=dQw4w9WgXcQ", TARGET),
        # Slack.
        ("https://slack-redir.net/link?url=https%3A%2F%2Fexample.com%2Fpath%3Fa%3D1%26b%3D2",
         TARGET),
        # href.li (WordPress.com): the whole query is the target, fragment included.
        ("https://href.li/?https://example.com/path?a=1&b=2", TARGET),
        ("https://href.li/?https://example.com/#section", "https://example.com/#section"),
        ("https://href.li/?https%3A%2F%2Fexample.com%2Fpath", "https://example.com/path"),
    ],
)
def test_known_wrappers(wrapper: str, target: str) -> None:
    assert unwrap(wrapper) == target


def test_targets_are_fileable_links() -> None:
    # Decoding the query turns "+" and "%20" into spaces: sent as a browser would send them.
    assert unwrap("https://www.google.com/url?q=https://example.com/a+b%20c") == (
        "https://example.com/a%20b%20c"
    )
    # Invisible characters make a link look like another one: not filed from a wrapper either.
    assert unwrap("https://www.google.com/url?q=https://example.com/%E2%80%AEfdp.exe") is None
    assert unwrap("https://www.google.com/url?q=https://exa%0Ample.com/") is None


def test_nested_wrappers_are_all_unwrapped() -> None:
    facebook = f"https://l.facebook.com/l.php?u={quote(TARGET, safe='')}&h=AT0"
    google = f"https://www.google.com/url?q={quote(facebook, safe='')}&sa=D"
    assert unwrap(google) == TARGET
    amp_in_google = (
        "https://www.google.com/url?q=https://www.google.com/amp/s/example.com/path&sa=D"
    )
    assert unwrap(amp_in_google) == "https://example.com/path"


def test_nesting_is_bounded() -> None:
    url = "https://example.com/"
    for _ in range(MAX_NESTING + 3):
        url = "https://href.li/?" + url
    unwrapped = unwrap(url)
    assert unwrapped is not None and unwrapped.startswith("https://href.li/?")


@pytest.mark.parametrize(
    "url",
    [
        "https://www.google.com/search?q=python+asyncio",
        "https://www.google.com/",
        "https://google.com/url",  # a redirect that names no target
        "https://www.google.com/url?q=",
        "https://example.com/url?q=https://elsewhere.example/",  # not Google
        "https://www.google.evil.example/url?q=https://example.com/",
        "https://maps.google.com/url?q=https://example.com/",
        "https://www.facebook.com/some.page",
        "https://l.facebook.com/",
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",
        "https://example.com/amp/s/example.org/",
        "https://example.com/path",
        "https://t.co/AbCdEf1234",  # a shortener: resolved by fetching, not here
        "https://bit.ly/3xyzABC",
        "ftp://www.google.com/url?q=https://example.com/",
        "not a url",
        "",
    ],
)
def test_not_wrappers(url: str) -> None:
    assert unwrap(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://l.facebook.com/l.php?u=javascript%3Aalert(document.cookie)",
        "https://www.google.com/url?q=javascript:alert(1)",
        "https://www.google.com/url?url=data:text/html;base64,PHNjcmlwdD4=&q=https://example.com/",
        "https://slack-redir.net/link?url=file%3A%2F%2F%2Fetc%2Fpasswd",
        "https://href.li/?javascript:alert(1)",
        "https://www.youtube.com/redirect?q=%2Frelative%2Fpath",
        "https://www.google.com/amp/s/",
        # Inside another wrapper, too.
        "https://www.google.com/url?q="
        "https%3A%2F%2Fl.facebook.com%2Fl.php%3Fu%3Djavascript%253Aalert(1)",
    ],
)
def test_wrappers_around_non_web_targets_give_nothing(url: str) -> None:
    assert unwrap(url) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200) | st.builds(
    lambda prefix, rest: prefix + rest,
    st.sampled_from([
        "https://www.google.com/url?q=", "https://www.google.com/amp/s/",
        "https://a.cdn.ampproject.org/c/s/", "https://l.facebook.com/l.php?u=",
        "https://www.youtube.com/redirect?q=", "https://slack-redir.net/link?url=",
        "https://href.li/?",
    ]),
    st.text(max_size=100),
))
def test_unwrap_never_raises_and_only_gives_web_urls(url: str) -> None:
    target = unwrap(url)
    assert target is None or target.lower().startswith(("http://", "https://"))
