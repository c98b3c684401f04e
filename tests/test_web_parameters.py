"""What a client writes in a path or a query is read by web/parameters.py, bounded: a bad value is
a 400 or a 404, never a 500, and every answer carries the security headers (decision 32).

The parser alone, then the values that answered 500 before (issue 25) on SQLite and PostgreSQL,
then a fuzz of every route's path segments and query values against the server itself."""

from __future__ import annotations

import asyncio
import http.client
import re
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.web_helpers import LAST_WEEK, fill, listening, web_client, web_options
from watchbot.store import Store
from watchbot.web import parameters
from watchbot.web.app import build_app
from watchbot.web.headers import SECURITY_HEADERS
from watchbot.web.parameters import LINK_MAX, BadParameter
from watchbot.web.site import Site

UTC = timezone.utc
CSP = SECURITY_HEADERS["Content-Security-Policy"]
TOKEN = "a-token-for-the-fuzz-only"
HUGE = "9" * 5000  # past Python's limit on int() of a string (4,300 digits)


# -- the parser alone ------------------------------------------------------------------------------


def test_a_number_is_ascii_digits_within_its_bounds():
    assert parameters.bounded_int("42", minimum=1, maximum=100) == 42
    assert parameters.bounded_int("0042", minimum=1, maximum=100) == 42
    for raw in ("²", "١٢", "１２", "-1", "+1", " 1", "1 ", "1e3", "0x1f", "", "0", "101", HUGE, "1" + "0" * 30):
        assert parameters.bounded_int(raw, minimum=1, maximum=100) is None, raw
    assert parameters.link_number(str(LINK_MAX)) == LINK_MAX == 2**31 - 1
    assert parameters.link_number(str(2**31)) is None and parameters.link_number(str(2**63)) is None
    assert parameters.is_number(HUGE) and not parameters.is_number("²")


def test_a_positive_number_is_refused_in_one_line_or_read_as_the_maximum_when_asked():
    assert parameters.positive_int("3", "page", 1000) == 3
    for raw in ("0", "1001", "²", HUGE, ""):
        with pytest.raises(BadParameter, match=r"^page: expected a whole number from 1 to 1000, such as page=50\.$"):
            parameters.positive_int(raw, "page", 1000)
    assert parameters.positive_int("500", "limit", 100, larger_is_maximum=True) == 100
    assert parameters.positive_int(HUGE, "limit", 100, larger_is_maximum=True) == 100
    for raw in ("0", "000", "²", "-5"):
        with pytest.raises(BadParameter):
            parameters.positive_int(raw, "limit", 100, larger_is_maximum=True)


def test_a_date_is_read_in_utc_within_bounded_years():
    assert parameters.moment("2026-11-30", "since") == datetime(2026, 11, 30, tzinfo=UTC)
    assert parameters.moment(" 2026-11-30T12:00:00Z ", "since") == datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert parameters.moment("2026-11-30T12:00:00+23:59", "since") == datetime(2026, 11, 29, 12, 1, tzinfo=UTC)
    assert parameters.moment("9999-12-31T23:59:59", "until") == datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    for raw in ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"):  # past year 1 or 9999 in UTC
        with pytest.raises(BadParameter, match=r"^since: expected a date such as 2026-11-30"):
            parameters.moment(raw, "since")
    for raw in ("1969-12-31", "1970-01-01T00:30:00+01:00", "0001-01-01"):
        with pytest.raises(BadParameter, match=r"^until: expected a date from 1970 to 9999"):
            parameters.moment(raw, "until")
    for raw in ("yesterday", "２０２６-11-30", "2026-11-30T12:00:00+24:00", "2026-11-30" + " " * 50 + "x"):
        with pytest.raises(BadParameter):
            parameters.moment(raw, "since")


def test_a_week_is_named_one_way_within_bounded_years():
    assert parameters.iso_week(LAST_WEEK) == LAST_WEEK and parameters.iso_week("2026-W53") == "2026-W53"
    for raw in ("9999-W52", "0000-W01", "1969-W10", "2026-W54", "２０２６-W49", "²⁰²⁶-W49", "02026-W49", "2026-W٤٩",
                "2026-w49", "x"):
        assert parameters.iso_week(raw) is None, raw


# -- what answered 500 before ------------------------------------------------------------------------

# (path, status, what the answer says): each used to be a 500 (issue 25).
ONCE_500 = [
    ("/api/links?limit=%C2%B2", 400, "limit: expected a whole number from 1 to 100"),
    ("/api/links?before=%C2%B2", 400, "before: expected a link number"),
    ("/api/links/%C2%B2", 400, "A link's number is a whole number"),
    ("/api/search?q=x&limit=%C2%B2", 400, "limit: expected a whole number"),
    (f"/api/links/{2**63}", 404, f"There is no link #{2**63}."),
    (f"/api/links/{2**31}", 404, f"There is no link #{2**31}."),
    (f"/api/links/{HUGE}", 404, "There is no link #999"),
    (f"/api/links?before={2**63}", 400, "before: expected a link number"),
    ("/api/links?since=0001-01-01T00:00:00%2B23:59", 400, "since: expected a date"),
    ("/api/links?until=9999-12-31T23:59:59-23:59", 400, "until: expected a date"),
    (f"/api/links?limit={HUGE}", 200, '"links"'),  # a larger limit is served as 100, as always
    ("/links/%C2%B2", 404, "There is no link #²"),
    (f"/links/{2**63}", 404, "There is no link"),
    (f"/links/{HUGE}", 404, "There is no link"),
    ("/weeks/9999-W52", 404, "No digest was posted in week 9999-W52"),
    ("/weeks/0000-W01", 404, "No digest was posted in week 0000-W01"),
    ("/weeks/%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-W49", 404, "No digest was posted"),
]


async def test_values_that_answered_500_are_400s_and_404s_that_say_why(store: Store):
    await fill(store)
    async with web_client(store) as client:
        for path, status, said in ONCE_500:
            answer = await client.get(path)
            text = await answer.text()
            assert (answer.status, said in text) == (status, True), (path, text[:300])
            assert answer.headers["Content-Security-Policy"] == CSP, path


# -- a fuzz of every route ---------------------------------------------------------------------------

# Values every kind of parameter has met: other scripts' digits, huge and negative numbers, dates
# with offsets at the ends of time, weeks past the calendar, nothing at all.
NASTY = st.sampled_from(["²", "١٢", "１２", "-1", "0", HUGE, str(LINK_MAX), str(2**31), str(2**63), "1e3", "",
                         "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59", "9999-W52", "0000-W01", "%",
                         "..", "\x00", "rust", LAST_WEEK])
NUMBERS = st.integers(min_value=-2**70, max_value=2**70).map(str)
DATES = st.one_of(
    st.builds(lambda moment, offset: moment.isoformat() + offset, st.datetimes(),
              st.sampled_from(["", "Z", "+23:59", "-23:59", "+05:30", "-00:00", "+24:00"])),
    st.dates().map(str))
WEEKS = st.builds("{:04d}-W{:02d}".format, st.integers(0, 9999), st.integers(0, 60))
VALUES = st.one_of(NASTY, st.one_of(NUMBERS, DATES, WEEKS, st.text(max_size=40)))  # half of them nasty
# The query parameters each route reads (a route not named here is sent `page`, which the tag
# listings are about to read): a route's new parameter is added here to be fuzzed.
READS = {"/api/links": ("limit", "before", "since", "until", "q", "tag"), "/api/search": ("q", "limit"),
         "/search": ("q",), "/healthz": ("format",), "/api/tags": ("page", "limit")}


def slots() -> list[tuple[str, str | None]]:
    """Every route the app serves, as its router has it ("/api/links/{id}", so a new route is
    fuzzed too), with each place a value goes: its path segment (None) or a query parameter."""
    app = build_app(Site(store=None, options=web_options()))  # type: ignore[arg-type]  # never served
    found = []
    for route in sorted({resource.canonical for resource in app.router.resources()}):
        if "{" in route:
            found.append((route, None))
        found += [(route, name) for name in READS.get(route, ("page",))]
    return found


def target(route: str, query_name: str | None, value: str) -> str:
    if query_name is None:
        return re.sub(r"\{[^}]+\}", lambda _: quote(value, safe=""), route)
    return f"{route}?{urlencode({query_name: value}, quote_via=quote)}"


def fuzz(port: int) -> None:
    places = slots()

    @settings(max_examples=50, deadline=None)
    @given(value=VALUES, method=st.sampled_from(["GET", "GET", "GET", "HEAD", "POST"]), with_token=st.booleans())
    def never_a_5xx(value: str, method: str, with_token: bool) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"} if with_token else {}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            for route, query_name in places:  # the value in every place, on one kept-alive connection
                asked = target(route, query_name, value)
                connection.request(method, asked, headers=headers)
                answer = connection.getresponse()
                answer.read()
                assert answer.status < 500, (method, asked, answer.status)
                assert answer.headers["Content-Security-Policy"] == CSP, (method, asked, answer.status)
                assert answer.headers["Server"] == "watchbot", (method, asked)
                if answer.will_close:
                    connection.close()  # the next request opens a new one
        finally:
            connection.close()

    never_a_5xx()


async def test_no_value_in_any_route_gets_a_5xx_and_every_answer_has_the_headers(store: Store):
    await fill(store)
    # With a token: its 401 is fuzzed as well as the API behind it (half the examples send it).
    async with listening(store, api_token=TOKEN) as server:
        await asyncio.to_thread(fuzz, server.port)
