"""The web pages on real SQLite and PostgreSQL stores, through aiohttp's test client: every route
answers with the published view only, strangers' strings as text, the strict headers, 404s for
what does not exist, and week pages that never change once their digest is out."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest

from tests.waiting import until
from tests.web_helpers import (BASE_URL, CANARIES, HOSTILE_NAME, HOSTILE_NOTE, HOSTILE_TITLE, LAST_WEEK, NOW,
                               SCHEDULE, THIS_WEEK, fill, post, web_client)
from watchbot.config import Settings
from watchbot.intake import Rules, file_post
from watchbot.store import Store
from watchbot.store.moderation import ModerationStore
from watchbot.web.app import SECURITY_HEADERS
from watchbot.web.site import WebOptions

PAGES = ("/", "/tags", "/tags/rust", "/tags/security", "/weeks", f"/weeks/{LAST_WEEK}", "/links/1", "/links/2",
         "/search?q=rust", "/search?q=security", "/search", "/about")
DATA = ("/api/digests", f"/api/digests/{LAST_WEEK}", "/feeds/digests.atom", "/style.css", "/favicon.svg")


class Markup(HTMLParser):
    """What a browser would make of a page: its elements, attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.open: list[str] = []
        self.bdi_text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self.open.append(tag)

    def handle_endtag(self, tag):
        while self.open and self.open.pop() != tag:
            pass

    def handle_data(self, data):
        self.text.append(data)
        if "bdi" in self.open:
            self.bdi_text.append(data)


def parse(page: str) -> Markup:
    markup = Markup()
    markup.feed(page)
    return markup


@pytest.fixture
async def filled(store: Store) -> Store:
    await fill(store)
    return store


# What each route must show of the public shares beside the canaries: an empty page fails.
SHOWN = {
    "/": "python.example/whatsnew", "/tags": 'href="/tags/rust"', "/tags/rust": "rust.example/async",
    "/tags/security": 'href="/links/2"', "/weeks": f'href="/weeks/{LAST_WEEK}"',
    f"/weeks/{LAST_WEEK}": 'href="/links/1"', "/links/1": "https://rust.example/async",
    "/links/2": "https://evil.example/page", "/search?q=rust": 'href="/links/1"',
    "/search?q=security": 'href="/links/2"', "/search": "Words to find", "/about": "forget me",
    "/api/digests": f"/weeks/{LAST_WEEK}", f"/api/digests/{LAST_WEEK}": "https://rust.example/async",
    "/feeds/digests.atom": f"/weeks/{LAST_WEEK}", "/style.css": "body", "/favicon.svg": "<svg",
}


@pytest.mark.parametrize("path", PAGES + DATA)
async def test_every_route_answers_with_the_strict_headers_and_no_private_canary(filled: Store, path: str):
    async with web_client(filled) as client:
        response = await client.get(path)
        body = await response.text()
    assert response.status == 200, body[:300]
    assert SHOWN[path] in body, body[:300]
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value
    assert "script-src" not in response.headers["Content-Security-Policy"]  # default-src 'none': no script
    assert [canary for canary in CANARIES if canary.lower() in body.lower()] == []


@pytest.mark.parametrize("word", ["canarytag", "canarynote", "canaryurl", "canarytitle", "canarydesc", "canaryname",
                                  "canarypath"])
async def test_searching_a_private_share_s_words_finds_nothing(filled: Store, word: str):
    async with web_client(filled) as client:
        body = await (await client.get("/search", params={"q": word})).text()
    assert "Nothing found." in body
    assert "/links/" not in body.split("<main", 1)[1]


async def test_what_a_reader_sees_of_a_link(filled: Store):
    async with web_client(filled) as client:
        page = parse(await (await client.get("/links/1")).text())
    text = " ".join("".join(page.text).split())
    assert "https://rust.example/async" in text and "utm_source" not in text  # trackers never shown
    assert "Alice on Matrix, 29 Nov 2026 17:00" in text
    assert "A good read" in text
    assert ("a", {"class": "tag", "href": "/tags/rust"}) in page.tags
    assert ("a", {"href": "https://rust.example/async", "rel": "nofollow noopener noreferrer"}) in page.tags


@pytest.mark.parametrize("path", ["/", "/links/2", f"/weeks/{LAST_WEEK}", "/tags/security", "/search?q=security"])
async def test_strangers_strings_are_text_isolated_from_the_page_s_direction(filled: Store, path: str):
    async with web_client(filled) as client:
        body = await (await client.get(path)).text()
    page = parse(body)
    elements = {tag for tag, _ in page.tags}
    assert not elements & {"script", "svg", "img", "iframe", "object"}
    assert not [attrs for _, attrs in page.tags if any(name.startswith("on") for name in attrs)]
    assert not [attrs for _, attrs in page.tags if "javascript:" in attrs.get("href", "")]
    text = "".join(page.text)
    assert HOSTILE_TITLE in text  # shown as the sharer wrote it, as text
    assert HOSTILE_NAME in text
    if path == "/links/2":
        assert HOSTILE_NOTE in text
    # The right-to-left override stays inside its <bdi>: the words after it keep their direction.
    assert any("\u202e" in chunk for chunk in page.bdi_text)
    assert not [chunk for chunk in page.text if "\u202e" in chunk and chunk not in page.bdi_text]


async def test_the_front_page_shows_this_week_so_far_and_the_latest_links(filled: Store):
    async with web_client(filled) as client:
        body = await (await client.get("/")).text()
    page = parse(body)
    main = body.split("<main", 1)[1]
    this_week, latest = main.split('id="latest"', 1)
    assert "04 Dec – 11 Dec 2026 (so far): 1 link from 1 person" in this_week
    assert "python.example" in this_week and "rust.example" not in this_week
    assert latest.index("python.example") < latest.index("evil.example") < latest.index("rust.example")
    # One h1, headings in order, the landmarks, a viewport for phones.
    headings = [int(tag[1]) for tag, _ in page.tags if re.fullmatch(r"h[1-6]", tag)]
    assert headings[0] == 1 and headings.count(1) == 1
    assert all(later - earlier <= 1 for earlier, later in zip(headings, headings[1:]))
    assert {"header", "nav", "main", "footer"} <= {tag for tag, _ in page.tags}
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in page.tags


async def test_the_front_page_with_all_it_loads_stays_under_50_kb(store: Store):
    long = "A title a sharer made as long as the page allows " * 6
    for n in range(60):
        await file_post(store, post(f"https://many.example/{n}/{'x' * 150} #tag{n % 9} #another{n % 7}",
                                    NOW - timedelta(hours=n), who=(f"@p{n}:x", f"Person number {n}"), title=long,
                                    note="why " * 80), Rules())
    async with web_client(store) as client:
        page = await (await client.get("/")).read()
        parsed = parse(page.decode())
        loaded = [attrs["href"] for tag, attrs in parsed.tags
                  if tag == "link" and attrs.get("rel") in ("stylesheet", "icon")]
        loaded += [attrs["src"] for _, attrs in parsed.tags if "src" in attrs]
        sizes = [len(await (await client.get(path)).read()) for path in loaded]
    assert loaded == ["/style.css", "/favicon.svg"]  # nothing else: no script, image or font, none from elsewhere
    assert len(page) + sum(sizes) < 50_000, (len(page), sizes)
    assert page.count(b'<a href="/links/') >= 20


@pytest.mark.parametrize("path", ["/links/99", "/links/abc", "/links/99999999999", "/tags/nosuch", "/tags/No%20Tag",
                                  "/weeks/2026-W48", "/weeks/2026-W99", "/weeks/garbage", f"/weeks/{THIS_WEEK}",
                                  f"/api/digests/{THIS_WEEK}", "/nowhere"])
async def test_what_does_not_exist_is_a_404_with_the_same_headers(filled: Store, path: str):
    async with web_client(filled) as client:
        response = await client.get(path)
        body = await response.text()
    assert response.status == 404
    assert response.headers["Content-Security-Policy"] == SECURITY_HEADERS["Content-Security-Policy"]
    if not path.startswith(("/api", "/nowhere")):
        assert "<h1>Not found</h1>" in body


async def test_the_tags_page_comes_in_pages_with_links_between_them(filled: Store):
    async with web_client(filled, tags_per_page=1) as client:
        first = await (await client.get("/tags")).text()
        second = await (await client.get("/tags?page=2")).text()
        beyond = [(await client.get(f"/tags?page={page}")).status for page in ("99", "0", "x")]
    assert first.count('href="/tags/') == 1 and 'href="/tags?page=2"' in first and "page=0" not in first
    assert second.count('href="/tags/') == 1 and 'href="/tags?page=1" rel="prev"' in second
    assert beyond == [404, 404, 404]


async def test_a_week_page_holds_every_link_of_the_week_and_never_changes(filled: Store):
    async with web_client(filled, digest_top=1) as client:
        week = await (await client.get(f"/weeks/{LAST_WEEK}")).text()
        data = await (await client.get(f"/api/digests/{LAST_WEEK}")).json()
    # The digest as posted held one link and "1 more in the archive": the week's page has both.
    [digest] = data["digests"]
    assert digest["more"] == 1 and data["url"] == f"{BASE_URL}/weeks/{LAST_WEEK}"
    assert 'href="/links/1"' in week and 'href="/links/2"' in week
    assert "python.example" not in week  # shared the week after

    # More links this week, the same link shared again, and a later clock: last week stays as it was.
    await file_post(filled, post("https://rust.example/async #rust", NOW), Rules())
    await file_post(filled, post("https://later.example/ #rust", NOW + timedelta(days=1)), Rules())
    async with web_client(filled, digest_top=1) as client:
        assert await (await client.get(f"/weeks/{LAST_WEEK}")).text() == week


async def test_a_forgotten_sharer_leaves_every_page(filled: Store):
    await ModerationStore(filled).forget("@mallory:x")
    async with web_client(filled) as client:
        said = [await (await client.get(path)).text() for path in PAGES + DATA]
        gone = await client.get("/links/2")
    assert gone.status == 404
    assert not [page for page in said if "Mallory" in page or "evil.example" in page]


async def test_the_digests_feed_is_atom_pointing_to_each_week_s_page(filled: Store):
    async with web_client(filled) as client:
        response = await client.get("/feeds/digests.atom")
        body = await response.read()
    assert response.content_type == "application/atom+xml"
    feed = feedparser.parse(body)
    assert not feed.bozo, feed.bozo_exception
    [entry] = feed.entries
    assert entry.link == f"{BASE_URL}/weeks/{LAST_WEEK}"
    assert entry.id.startswith("urn:uuid:") and entry.published == "2026-12-04T17:00:00Z"
    assert entry.title.startswith("Tech watch 27 Nov – 04 Dec 2026: 2 links from 2 people")
    assert HOSTILE_TITLE in entry.content[0].value  # text, as the sharer wrote it
    async with web_client(filled) as client:
        assert await (await client.get("/feeds/digests.atom")).read() == body  # stable for feed readers


async def test_the_about_page_names_public_rooms_only(filled: Store):
    from watchbot.model import Visibility
    from watchbot.model import Treatment
    from watchbot.store.rooms import RoomStore

    rooms = RoomStore(filled)
    await rooms.record("!pub:x", "Rust <b>fans</b>", Treatment(Visibility.PUBLIC, "public"), at=NOW)
    await rooms.record("!secret:x", "CANARYROOM", Treatment(Visibility.PRIVATE, "invite only"), at=NOW)
    # As `watchbot run` makes them: the settings hold the fediverse's token too.
    configured = WebOptions.from_settings(Settings(_env_file=None, web_base_url=BASE_URL, digest_schedule=SCHEDULE,
                                                   fediverse_instance="https://social.example",
                                                   fediverse_access_token="t0ken"))
    async with web_client(filled, configured) as client:
        body = await (await client.get("/about")).text()
    text = "".join(parse(body).text)
    assert "Rust <b>fans</b>" in text and "CANARYROOM" not in body and "!secret:x" not in body
    assert "social.example" in text and "#nobot" in text and "!watch forget me" in text
    assert "t0ken" not in body


# -- serving: `watchbot web` apart from the bot -----------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def watchbot(tmp_path: Path, env: dict, *args: str, **popen) -> subprocess.Popen:
    environ = {**{k: v for k, v in os.environ.items() if not k.startswith("WATCHBOT_")}, **env,
               "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    (tmp_path / "empty.env").write_text("")
    return subprocess.Popen([sys.executable, "-m", "watchbot", "--env-file", "empty.env", *args], env=environ,
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def get(url: str, tries: int = 100) -> tuple[int, str]:
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=5) as answer:
                return answer.status, answer.read().decode()
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


async def test_watchbot_web_serves_the_pages_alone_and_stops_on_sigterm(sqlite_url: str, tmp_path: Path):
    store = await Store.open(sqlite_url)
    await fill(store)
    await store.close()
    port = free_port()
    env = {"WATCHBOT_DATABASE_URL": sqlite_url, "WATCHBOT_WEB_PORT": str(port),
           "WATCHBOT_WEB_BASE_URL": BASE_URL, "WATCHBOT_DIGEST_SCHEDULE": "0 17 * * fri"}
    process = watchbot(tmp_path, env, "web")
    try:
        status, body = get(f"http://127.0.0.1:{port}/links/1")
        assert status == 200 and "rust.example/async" in body
        status, _ = get(f"http://127.0.0.1:{port}/weeks/{LAST_WEEK}")
        assert status == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err


def test_watchbot_web_refuses_in_one_line_what_it_cannot_serve(tmp_path: Path):
    fresh = f"sqlite:///{tmp_path / 'new.db'}"
    no_url = watchbot(tmp_path, {"WATCHBOT_DATABASE_URL": fresh}, "web", "--port", "0")
    _, err = no_url.communicate(timeout=30)
    assert no_url.returncode == 1
    assert err.strip() == ("Error: set WATCHBOT_WEB_BASE_URL, the pages' public address "
                           "(such as https://watch.example.org)")
    not_migrated = watchbot(tmp_path, {"WATCHBOT_DATABASE_URL": fresh, "WATCHBOT_WEB_BASE_URL": BASE_URL},
                            "web", "--port", "0")
    _, err = not_migrated.communicate(timeout=30)
    assert not_migrated.returncode == 1 and len(err.strip().splitlines()) == 1, err
    assert "start `watchbot run` first" in err
    with sqlite3.connect(tmp_path / "new.db") as db:  # never migrated: the bot owns the schema
        assert db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall() == []


async def bot_with_pages(scene, tmp_path: Path) -> tuple[subprocess.Popen, int]:
    """`watchbot run` on the scene's Synapse with its pages on a free port: the process, the port."""
    from tests.test_matrix_bot import bot_env

    alice, _ = await scene.person("alice")
    port = free_port()
    env = {**bot_env(scene, alice.user_id), "WATCHBOT_WEB_PORT": str(port), "WATCHBOT_WEB_BASE_URL": BASE_URL}
    bot = subprocess.Popen([sys.executable, "-m", "watchbot", "run"], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return bot, port


async def test_watchbot_run_serves_the_pages_beside_the_bot_and_stops_them_on_sigterm(scene, tmp_path: Path):
    bot, port = await bot_with_pages(scene, tmp_path)
    try:
        status, body = await asyncio.to_thread(get, f"http://127.0.0.1:{port}/about")
        assert status == 200 and "How to take part" in body
    finally:
        bot.send_signal(signal.SIGTERM)
        _, err = bot.communicate(timeout=60)
    assert bot.returncode == 0, err[-2000:]
    assert "Traceback" not in err and "web pages stopped" in err
    with pytest.raises(OSError):  # the port is closed with the bot
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def _pages_process(bot: int) -> int:
    """The pid of the bot's child that serves the pages (multiprocessing's spawned interpreter)."""
    children = [int(child) for child in Path(f"/proc/{bot}/task/{bot}/children").read_text().split()]
    [pages] = [child for child in children if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()]
    return pages


async def test_the_pages_process_is_started_again_when_it_dies_and_ends_with_the_bot(scene, tmp_path: Path):
    bot, port = await bot_with_pages(scene, tmp_path)
    try:
        assert (await asyncio.to_thread(get, f"http://127.0.0.1:{port}/about"))[0] == 200
        pages = _pages_process(bot.pid)
        assert os.getpriority(os.PRIO_PROCESS, pages) >= os.getpriority(os.PRIO_PROCESS, bot.pid) + 10
        os.kill(pages, signal.SIGKILL)  # a crash of the pages' process
        assert (await asyncio.to_thread(get, f"http://127.0.0.1:{port}/about"))[0] == 200  # started again
        again = _pages_process(bot.pid)
        assert again != pages
        bot.kill()  # and when the bot is killed, no page process is left behind
        bot.wait(timeout=30)
        await until(lambda: not Path(f"/proc/{again}").exists() or "Z" in Path(f"/proc/{again}/stat").read_text()
                    .split()[2], "the pages' process to end with the bot")
    finally:
        if bot.poll() is None:
            bot.kill()
        bot.communicate(timeout=60)


def test_watchbot_web_says_in_one_line_when_its_port_is_taken(sqlite_url: str, tmp_path: Path):
    async def migrate():
        await (await Store.open(sqlite_url)).close()

    asyncio.run(migrate())
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = watchbot(tmp_path, {"WATCHBOT_DATABASE_URL": sqlite_url, "WATCHBOT_WEB_BASE_URL": BASE_URL},
                           "web", "--port", str(port))
        _, err = process.communicate(timeout=30)
    assert process.returncode == 1
    assert err.strip().splitlines()[-1].startswith(f"Error: the web pages cannot be served: cannot listen on "
                                                   f"127.0.0.1:{port} (")
    assert "Traceback" not in err


async def test_a_look_alike_host_is_shown_in_punycode_on_every_surface_and_a_plain_idn_as_written(store: Store):
    day = NOW - timedelta(days=1)
    for text in ("https://аррӏе.com/login #security", "https://pаypal.com/ #security", "https://bücher.de/ #security"):
        await file_post(store, post(text, day), Rules())
    async with web_client(store) as client:
        page = await (await client.get("/links/1")).text()
        listing = await (await client.get("/tags/security")).text()
        api = await (await client.get("/api/links")).json()
        feed = await (await client.get("/feeds/links.atom")).text()
    for shown in (page, listing, str(api), feed):
        assert "xn--80ak6aa92e.com/login" in shown and "аррӏе" not in shown
    for shown in (listing, str(api), feed):
        assert "xn--pypal-4ve.com" in shown and "pаypal" not in shown
        assert "https://bücher.de/" in shown  # one script: readable
