"""The JSON API (watchbot/web/api.py) served on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64

import pytest

from watchbot.model import Source
from watchbot.store import Store
from watchbot.store import published as published_reads
from tests.waiting import until
from watchbot.web.answers import KEEP_SECONDS
from tests.web_helpers import PRIVATE_KINDS
from tests.web_serving import BASE_URL, serving, share

HOSTILE_TITLE = "<script>alert(1)</script><b>unclosed & \u202eevil\u202c"
HOSTILE_NOTE = "</textarea><img src=x onerror=alert(2)> \u202egnp.exe"
TOKEN = "s3cret-token-for-tests-only"
# Each kind of share the public may not read: a direct chat, an invite-only room, a followers-only
# status, a direct status (place, sharer, visibility, source).
PRIVATE = pytest.mark.parametrize("place, who, visibility, source", PRIVATE_KINDS,
                                  ids=["direct chat", "private room", "followers-only", "direct status"])


async def test_links_are_listed_newest_first_a_page_at_a_time_to_the_end(store: Store):
    ids = [(await share(store, f"https://example.org/{n} #rust", hours_ago=50 - n))[0] for n in range(5)]
    async with serving(store) as client:
        seen, url = [], "/api/links?limit=2"
        while url:
            answer = await client.get(url.removeprefix(BASE_URL))
            assert answer.status == 200
            body = await answer.json()
            seen.append([link["id"] for link in body["links"]])
            url = body["next"]
    assert seen == [ids[:-3:-1], ids[2:0:-1], ids[:1]]


@PRIVATE
async def test_a_link_says_what_the_public_may_read_of_it_and_where_its_page_is(store: Store, place, who, visibility,
                                                                                source):
    [link_id] = await share(store, "https://example.org/post?id=7&utm_source=x #Rust #async", hours_ago=3,
                            title=HOSTILE_TITLE, note=HOSTILE_NOTE)
    await share(store, "https://example.org/post?id=7 #whispered", hours_ago=2, who=who, place=place,
                visibility=visibility, source=source, note="private words")
    async with serving(store) as client:
        answer = await client.get(f"/api/links/{link_id}")
        link = await answer.json()
    assert answer.status == 200 and answer.content_type == "application/json"
    assert link["url"] == "https://example.org/post?id=7"  # no tracking parameter
    assert link["title"] == HOSTILE_TITLE  # intact: JSON escapes it, whoever shows it must too
    assert link["tags"] == ["async", "rust"]
    assert link["first_shared_at"] == "2026-11-30T09:00:00Z"
    assert link["shares"] == [{"by": "Alice", "source": "matrix", "place": "!pub:x", "at": "2026-11-30T09:00:00Z"}]
    assert link["page"] == f"{BASE_URL}/links/{link_id}"
    assert "private words" not in str(link) and "Canaryname" not in str(link) and "whispered" not in str(link)


async def test_links_filter_by_tag_dates_and_words(store: Store):
    rust = (await share(store, "https://example.org/a io_uring #rust", hours_ago=30))[0]
    await share(store, "https://example.org/b #python", hours_ago=20)
    late = (await share(store, "https://example.org/c #rust", hours_ago=2, note="kernel news"))[0]
    async with serving(store) as client:
        async def ids(query: str) -> list[int]:
            answer = await client.get("/api/links?" + query)
            assert answer.status == 200, await answer.text()
            return [link["id"] for link in (await answer.json())["links"]]

        assert await ids("tag=%23Rust") == [late, rust]
        assert await ids("tag=rust&since=2026-11-30") == [late]
        assert await ids("until=2026-11-29T12:00:00Z") == [rust]
        assert await ids("q=kernel") == [late]
        assert await ids("q=kernel&tag=python") == []


async def test_a_bad_filter_gets_400_and_one_line_saying_what_is_expected(store: Store):
    async with serving(store) as client:
        for query, said in [("since=yesterday", "since: expected a date such as 2026-11-30"),
                            ("limit=lots", "limit: expected a whole number from 1 to 100"),
                            ("tag=%20", "tag: not a tag"), ("before=x", "before: expected a link number")]:
            answer = await client.get("/api/links?" + query)
            assert answer.status == 400
            assert said in (await answer.json())["error"]
        answer = await client.get("/api/search")
        assert answer.status == 400 and "q: say what to search for" in (await answer.json())["error"]


@PRIVATE
async def test_a_link_nobody_shared_publicly_is_404_as_is_an_unknown_address(store: Store, place, who, visibility,
                                                                             source):
    await share(store, "https://example.org/public", hours_ago=2)
    [secret] = await share(store, "https://secret.example/x", hours_ago=1, who=who, place=place, visibility=visibility,
                           source=source)
    async with serving(store) as client:
        for path, said in [(f"/api/links/{secret}", f"There is no link #{secret}."),
                           ("/api/links/99999", "There is no link #99999."),
                           ("/api/nothing-here", "There is no such API address")]:
            answer = await client.get(path)
            assert answer.status == 404
            assert said in (await answer.json())["error"]


@PRIVATE
async def test_tags_are_counted_from_public_shares_with_their_pages(store: Store, place, who, visibility, source):
    await share(store, "https://example.org/a #rust #web", hours_ago=3)
    await share(store, "https://example.org/b #rust", hours_ago=2)
    await share(store, "https://example.org/c #secret", hours_ago=1, who=who, place=place, visibility=visibility,
                source=source)
    await share(store, "https://example.org/a #rust #whispered", hours_ago=1, who=who, place=place,
                visibility=visibility, source=source)
    async with serving(store) as client:
        body = await (await client.get("/api/tags")).json()
    assert body["tags"] == [{"tag": "rust", "count": 2, "page": f"{BASE_URL}/tags/rust"},
                            {"tag": "web", "count": 1, "page": f"{BASE_URL}/tags/web"}]


async def test_tags_come_a_page_at_a_time_to_the_end(store: Store):
    await share(store, "https://example.org/a #rust #web #go", hours_ago=3)
    await share(store, "https://example.org/b #rust #web", hours_ago=2)
    await share(store, "https://example.org/c #rust", hours_ago=1)
    async with serving(store, tags_per_page=2) as client:
        first = await (await client.get("/api/tags")).json()
        second = await (await client.get(first["next"].removeprefix(BASE_URL))).json()
        bad = [(await client.get(f"/api/tags?page={page}")).status for page in ("0", "²", "-1", "9" * 30)]
    assert [(t["tag"], t["count"]) for t in first["tags"]] == [("rust", 3), ("web", 2)]
    assert first["next"] == f"{BASE_URL}/api/tags?page=2"
    assert [(t["tag"], t["count"]) for t in second["tags"]] == [("go", 1)] and second["next"] is None
    assert bad == [400] * 4


async def test_tag_counts_are_kept_a_minute_then_counted_again_behind_the_reader(store: Store):
    now = [1000.0]
    await share(store, "https://example.org/a #rust", hours_ago=3)
    async with serving(store, ticks=lambda: now[0]) as client:
        async def tags() -> list[str]:
            return [t["tag"] for t in (await (await client.get("/api/tags")).json())["tags"]]

        assert await tags() == ["rust"]
        await share(store, "https://example.org/b #go", hours_ago=1)
        now[0] += 59
        assert await tags() == ["rust"]  # kept: not counted again within the minute
        now[0] += 2
        assert await tags() == ["rust"]  # this reader is not kept waiting: the count runs behind it
        async def counted_again() -> bool:
            now[0] += KEEP_SECONDS  # a later reader: not given the answer kept for the one before
            return await tags() == ["go", "rust"]

        await until(counted_again, "the new tag to be counted")


@PRIVATE
async def test_search_is_the_bots_search_of_the_published_view(store: Store, place, who, visibility, source):
    [found] = await share(store, "https://example.org/a #rust", hours_ago=3, note="borrow checker tricks")
    await share(store, "https://example.org/b", hours_ago=2, who=who, place=place, visibility=visibility,
                source=source, note="borrow secrets")
    await share(store, "https://example.org/c", hours_ago=2, source=Source.FEED, place="https://feed.example/atom",
                who=("https://feed.example/atom", "Feed"), links=("https://example.org/c",), title="Checker news")
    async with serving(store) as client:
        body = await (await client.get("/api/search?q=borrow")).json()
    assert body["query"] == "borrow" and [link["id"] for link in body["links"]] == [found]


def basic(password: str, user: str = "reader") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def test_with_a_token_every_route_but_health_answers_only_its_bearer(store: Store):
    await share(store, "https://example.org/a #rust", hours_ago=3)
    async with serving(store, api_token=TOKEN) as client:
        for path in ("/api/links", "/api/tags", "/feeds/links.atom", "/feeds/tags/rust.atom", "/", "/tags/rust",
                     "/links/1", "/search?q=rust", "/about", "/metrics"):
            for header in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": f"Basic {TOKEN}"},
                           basic("wrong-token")):
                refused = await client.get(path, headers=header)
                assert refused.status == 401, path
                assert refused.headers["Content-Security-Policy"]
                assert TOKEN not in await refused.text()
            assert (await client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})).status == 200, path
            assert (await client.get(path, headers=basic(TOKEN))).status == 200, path  # a browser, a feed reader
        said = await (await client.get("/api/links")).json()
        assert said["error"].startswith("This watch's API and feeds need a token")
        page = await client.get("/")
        assert page.headers["WWW-Authenticate"].startswith('Basic realm="watchbot"')  # the browser asks
        assert "This watch is private" in await page.text()
        assert (await client.get("/api/links")).headers["WWW-Authenticate"] == 'Bearer realm="watchbot"'
        assert (await client.get("/healthz")).status == 200  # a load balancer's question needs no token


async def test_public_pages_with_a_token_keep_the_data_private(store: Store):
    await share(store, "https://example.org/a #rust", hours_ago=3)
    async with serving(store, api_token=TOKEN, public_pages=True) as client:
        assert [(await client.get(path)).status for path in ("/", "/tags/rust", "/links/1")] == [200] * 3
        assert [(await client.get(path)).status for path in ("/api/links", "/feeds/links.atom", "/metrics")] == \
            [401] * 3


async def test_metrics_are_never_open_and_answer_their_own_token(store: Store):
    metrics_token = "another-token-for-metrics"
    async with serving(store) as client:  # no token set at all: nobody reads /metrics
        closed = await client.get("/metrics", headers={"Authorization": "Bearer "})
        assert closed.status == 401 and "WATCHBOT_WEB_METRICS_TOKEN" in await closed.text()
        assert (await client.get("/api/links")).status == 200  # the rest stays public
    async with serving(store, api_token=TOKEN, metrics_token=metrics_token) as client:
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {metrics_token}"})).status == 200


async def test_a_tags_listing_is_the_same_whether_its_links_are_near_the_top_or_far_down(
        store: Store, monkeypatch):
    # The listing probes the newest TAG_WINDOW shares first, then gathers the tag's shares: both
    # tries must give the same pages (a small window here, so both are taken on a small store).
    monkeypatch.setattr(published_reads, "TAG_WINDOW", 3)
    tags = ["rust", "go", "rust", "go", "go", "go", "rust", "rust", "go", "rust"]
    ids = {n: (await share(store, f"https://example.org/{n} #{tag}", hours_ago=50 - n))[0]
           for n, tag in enumerate(tags)}
    rust = [ids[n] for n in reversed(range(len(tags))) if tags[n] == "rust"]
    async with serving(store) as client:
        seen, url = [], "/api/links?tag=rust&limit=2"
        while url:
            body = await (await client.get(url.removeprefix(BASE_URL))).json()
            seen += [link["id"] for link in body["links"]]
            url = body["next"]
    assert seen == rust
