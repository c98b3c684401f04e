"""Reading a hostile message against reading an ordinary one of the same length, as each network
reads it, in one run.

    python bench/bench_hostile.py [--runs 9] [--size 65536] [--parsers]

Matrix: ``post_from_event`` of an m.room.message, then intake's ``read_post`` with ``Rules()``.
Mastodon: ``post_from_status`` (the adapter's call, the length checked first), then ``read_post``.
Each hostile shape is the message's HTML (``formatted_body``, a status's ``content``), as long as
``--size`` allows (the default is intake's limit, so the message is read, not refused); its plain
body is one short line. The ordinary message beside it has the same length: paragraphs of text
with a link every 30 paragraphs. A shape that cannot fit the limit (10,000 links) is read with the
limit raised to its length, and so is its ordinary twin.

Order: for each run, every shape then its ordinary twin, network by network, so both sides see the
same machine noise. Per shape: median and max over the runs, and the ratio of the medians.

``--parsers`` also times, once per shape, the bare parse of the same HTML by the parsers that were
considered (html.parser, and selectolax/lexbor and lxml/libxml2 when they are installed) at a
quarter of this size and at this size: figures for docs/decisions.md (13). html.parser takes a
few minutes there.

Results go to standard output as Markdown, for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from datetime import date
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watchbot.intake import Rules, read_post  # noqa: E402
from watchbot.networks.fediverse.events import post_from_status  # noqa: E402
from watchbot.networks.matrix.events import post_from_event  # noqa: E402

BODY = "see the links"
LINKS = 10_000


def repeated(unit: str, size: int) -> str:
    return unit * (size // len(unit))


def nested(unit: str, levels: int) -> Callable[[int], str]:
    return lambda size: unit * levels


def formatting_reopened(size: int) -> str:
    # Formatting elements that every later tag must reopen (lexbor issue 340: cubic there).
    n = 1
    while 3 * len(f"<b {n}>") * n < size:
        n += 1
    return "".join(f"<b {i}>" for i in range(n)) + "".join(f"<i {i}>" for i in range(n)) + "x</b>" * n


def links(count: int | None) -> Callable[[int], str]:
    def make(size: int) -> str:
        pieces, total, i = [], 0, 0
        while (count is None and total < size - 40) or (count is not None and i < count):
            pieces.append(piece := f'<a href="https://x.io/{i}">{i}</a> ')
            total, i = total + len(piece), i + 1
        return "".join(pieces)
    return make


def long_attribute(size: int) -> str:
    return '<p><a href="https://example.org/?q=' + "x" * (size - 60) + '">long</a></p>'


SHAPES: dict[str, Callable[[int], str]] = {
    "'<a ' repeated": lambda size: repeated("<a ", size),
    "unclosed '<!--' repeated": lambda size: repeated("<!--", size),
    "'<![' repeated": lambda size: repeated("<![", size),
    "10,000 nested <div>": nested("<div>", 10_000),
    "10,000 nested <a>": nested("<a>", 10_000),
    "10,000 nested <ul><li>": nested("<ul><li>", 10_000),
    "formatting elements reopened": formatting_reopened,
    "as many links as fit": links(None),
    f"{LINKS:,} links": links(LINKS),
    "one 60 KB attribute": long_attribute,
}

PARAGRAPH = ("<p>The release notes describe a new scheduler, a faster allocator and the usual fixes; "
             "the maintainers thank everyone who tested the betas and ask for reports of any "
             "regression before the next point release, due in about a month.</p>\n")


def ordinary(size: int) -> str:
    """Paragraphs of text, a link every 30 paragraphs, `size` characters long."""
    parts, total, n = [], 0, 0
    while total < size:
        text = PARAGRAPH
        if n % 30 == 0:
            text = text.replace("new scheduler", f'<a href="https://example.org/news/{n}">new scheduler</a>')
        parts.append(text)
        total, n = total + len(text), n + 1
    return "".join(parts)[:size]


def matrix_reader(rules: Rules) -> Callable[[str], object]:
    def read(html: str) -> object:
        event = {"type": "m.room.message", "event_id": "$e", "sender": "@alice:example.org",
                 "origin_server_ts": 1_763_800_000_000,
                 "content": {"msgtype": "m.text", "body": BODY, "format": "org.matrix.custom.html",
                             "formatted_body": html}}
        post = post_from_event(event, "!room:example.org", own_user_id="@watch:example.org", sender_name="Alice")
        return read_post(post, rules)
    return read


def mastodon_reader(rules: Rules) -> Callable[[str], object]:
    def read(html: str) -> object:
        status = {"id": "1", "uri": "https://social.example/users/alice/statuses/1", "visibility": "public",
                  "created_at": "2026-11-20T09:15:00.000Z", "content": html, "mentions": [], "tags": [],
                  "account": {"id": "2", "username": "alice", "acct": "alice"}}
        return read_post(post_from_status(status, "social.example", max_chars=rules.max_post_chars), rules)
    return read


def timed(read: Callable[[str], object], html: str) -> float:
    began = time.perf_counter()
    reading = read(html)
    elapsed = time.perf_counter() - began
    assert not any("too long" in problem for problem in reading.problems), "a shape was refused, not read"
    return elapsed


def main(runs: int, size: int) -> None:
    limit = Rules().max_post_chars
    cases = []  # (shape, network, reader, hostile html, ordinary html)
    for shape, make in SHAPES.items():
        html = make(size - len(BODY))
        rules = Rules() if len(html) + len(BODY) <= limit else Rules(max_post_chars=len(html) + len(BODY))
        for network, reader in (("Matrix", matrix_reader(rules)), ("Mastodon", mastodon_reader(rules))):
            cases.append((shape, network, reader, html, ordinary(len(html))))
    times: dict[tuple[str, str], tuple[list[float], list[float]]] = {
        (shape, network): ([], []) for shape, network, *_ in cases}
    for _ in range(runs):
        for shape, network, reader, html, plain in cases:
            hostile, normal = times[shape, network]
            hostile.append(timed(reader, html))
            normal.append(timed(reader, plain))

    print(f"## Hostile messages ({date.today().isoformat()})\n")
    print(f"Python {platform.python_version()}, {os.cpu_count()} cores, turbohtml {version('turbohtml')}; "
          f"`python bench/bench_hostile.py --runs {runs} --size {size}`\n")
    print("| shape | size | network | hostile median | max | ordinary median | max | ratio (medians) |")
    print("|---|---|---|---|---|---|---|---|")
    for shape, network, _, html, _ in cases:
        hostile, normal = times[shape, network]
        h, o = statistics.median(hostile), statistics.median(normal)
        print(f"| {shape} | {len(html):,} | {network} | {h * 1000:.2f} ms | {max(hostile) * 1000:.2f} ms "
              f"| {o * 1000:.2f} ms | {max(normal) * 1000:.2f} ms | {h / o:.2f}x |")


# --- The parsers that were considered (--parsers) -----------------------------------------------


def parsers() -> dict[str, Callable[[str], object]]:
    from html.parser import HTMLParser

    from watchbot.markup import tokens

    def stdlib(html: str) -> None:
        parser = HTMLParser()
        parser.feed(html)
        parser.close()

    found: dict[str, Callable[[str], object]] = {
        f"turbohtml {version('turbohtml')} (tokens)": lambda html: sum(1 for _ in tokens(html))}
    try:
        from selectolax.lexbor import LexborHTMLParser
        found[f"selectolax {version('selectolax')} (lexbor tree)"] = LexborHTMLParser
    except ImportError:
        pass
    try:
        from lxml import etree

        class Events:  # events to a target, as a reader of links would take them; no tree is kept
            def start(self, tag, attrs): pass
            def end(self, tag): pass
            def data(self, text): pass
            def close(self): pass

        def libxml2(html: str) -> None:
            # etree.fromstring would stop at 256 levels deep and drop the rest of the message.
            parser = etree.HTMLParser(target=Events())
            parser.feed(html)
            parser.close()

        found[f"lxml {version('lxml')} (libxml2, events)"] = libxml2
    except ImportError:
        pass
    found[f"html.parser (Python {platform.python_version()})"] = stdlib
    return found


def compare_parsers(size: int) -> None:
    shapes = {name: SHAPES[name] for name in ("'<a ' repeated", "unclosed '<!--' repeated", "'<![' repeated",
                                               "formatting elements reopened", "as many links as fit")}
    shapes["nested <ul><li>, to the size"] = lambda size: repeated("<ul><li>", size)
    shapes["nested <div>, to the size"] = lambda size: repeated("<div>", size)
    shapes["'</p><b>' repeated"] = lambda size: repeated("</p><b>", size)  # libxml2's worst found
    considered = parsers()
    print(f"\n### One parse of the HTML alone, at {size // 4:,} / {size:,} characters\n")
    print("| shape | " + " | ".join(considered) + " |")
    print("|---|" + "---|" * len(considered))
    for shape, make in shapes.items():
        cells = []
        for parse in considered.values():
            figures = []
            for length in (size // 4, size):
                html = make(length)
                began = time.perf_counter()
                try:
                    parse(html)
                    figures.append(f"{(time.perf_counter() - began) * 1000:,.1f}")
                except Exception as error:  # html.parser's AssertionError on "<![": part of the finding
                    figures.append(type(error).__name__)
            cells.append(" / ".join(figures) + " ms")
        print(f"| {shape} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--size", type=int, default=Rules().max_post_chars)
    parser.add_argument("--parsers", action="store_true", help="also time the parsers that were considered")
    arguments = parser.parse_args()
    main(arguments.runs, arguments.size)
    if arguments.parsers:
        compare_parsers(arguments.size)
