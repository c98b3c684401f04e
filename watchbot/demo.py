"""`watchbot demo`: a throwaway store, a few messages as the networks deliver them, and what the
bot makes of them — through the same intake and store as the running bot."""

from __future__ import annotations

import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click

from watchbot.intake import Rules, describe, file_post
from watchbot.model import Post, Source, Visibility
from watchbot.store import Store

START = datetime.now(timezone.utc) - timedelta(days=3)

# Messages shaped as Matrix and Mastodon deliver them: links come from the HTML hrefs, never from
# the shortened text a client shows; mentions and hashtag links are not shared links.
SAMPLE_POSTS = (
    Post(
        source=Source.MATRIX, place="!demo:localhost", author_id="@alice:localhost", author_name="Alice",
        text="Async closures are stable! https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html #rust #Release",
        html='Async closures are stable! <a href="https://blog.rust-lang.org/2025/02/20/Rust-1.85.0.html">'
             "blog.rust-lang.org/2025/02/…</a> #rust #Release",
        event_id="$demo-1", at=START,
    ),
    Post(
        source=Source.MASTODON, place="mastodon.example", author_id="bob@mastodon.example", author_name="Bob",
        text="@watch https://www.cisa.gov/known-exploited-vulnerabilities-catalog #security #CVE",
        html='<p><span class="h-card"><a href="https://mastodon.example/@watch" class="u-url mention">@watch</a>'
             '</span> <a href="https://www.cisa.gov/known-exploited-vulnerabilities-catalog" rel="nofollow">'
             '<span class="invisible">https://www.</span>cisa.gov/known-exploited-vulne…</a> '
             '<a href="https://mastodon.example/tags/security" class="mention hashtag" rel="tag">#security</a> '
             '<a href="https://mastodon.example/tags/CVE" class="mention hashtag" rel="tag">#CVE</a></p>',
        event_id="109876543210", at=START + timedelta(hours=5),
    ),
    Post(
        source=Source.MATRIX, place="!demo:localhost", author_id="@carol:localhost", author_name="Carol",
        text="Same one, via the newsletter: HTTPS://Blog.Rust-Lang.org/2025/02/20/Rust-1.85.0.html"
             "?utm_source=newsletter&utm_medium=email #rustlang",
        event_id="$demo-2", at=START + timedelta(days=1),
    ),
    Post(
        source=Source.MATRIX, place="!demo:localhost", author_id="@dave:localhost", author_name="Dave",
        text="Two for the #python folks: https://peps.python.org/pep-0703/ and "
             "https://docs.python.org/3/howto/free-threading-python.html #py",
        event_id="$demo-3", at=START + timedelta(days=2),
    ),
    Post(
        source=Source.MATRIX, place="!demo:localhost", author_id="@erin:localhost", author_name="Erin",
        text="this one is not a link: javascript:alert(1) and neither is ftp://example.com/file",
        event_id="$demo-4", at=START + timedelta(days=2, hours=1),
    ),
    Post(
        source=Source.MASTODON, place="mastodon.example", author_id="frank@social.example", author_name="Frank",
        text="@watch https://lwn.net/Articles/1000000/ #linux (sent as a direct message)",
        event_id="109876543299", visibility=Visibility.DIRECT, at=START + timedelta(days=2, hours=3),
    ),
)


async def run_demo(keep: Path | None, zone) -> None:
    directory = keep or Path(tempfile.mkdtemp(prefix="watchbot-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    url = f"sqlite:///{directory / 'watchbot.db'}"
    rules = Rules(tag_aliases={"py": "python", "rustlang": "rust"})
    heading = lambda text: click.secho(f"\n== {text}", bold=True)  # noqa: E731

    heading(f"A throwaway store: {directory / 'watchbot.db'}")
    async with await Store.open(url) as store:
        heading("Messages arrive, and the bot answers each sharer")
        for post in SAMPLE_POSTS:
            click.echo(f"{post.author_name} ({post.source.value}, {post.visibility.value}): {post.text}")
            result = await file_post(store, post, rules)
            for link_result in result.results:
                click.secho(f"  bot: {describe(link_result, zone)}", fg="green")
            for problem in result.problems:
                click.secho(f"  bot: {problem}", fg="yellow")
            if not result.results and not result.problems:
                click.secho("  bot: (no link here: nothing to file, nothing said)", fg="yellow")

        heading("The same message delivered twice (a reconnect) files nothing twice")
        again = await file_post(store, SAMPLE_POSTS[0], rules)
        click.secho(f"  bot: {describe(again.results[0], zone)}", fg="green")

        heading("watchbot tags")
        for tag, count in await store.tag_counts():
            click.echo(f"  {tag:<10} {count}")

        heading("watchbot links search free threading")
        for link in await store.search("free threading"):
            click.echo(f"  #{link.id} {link.url}")

        heading("What may be published (the direct message stays private)")
        for link in await store.list_links(publishable_only=True):
            sharers = f"first shared by {link.first_sharer_name}, {link.share_count} share(s)"
            click.echo(f"  #{link.id} {link.url} [{', '.join(link.tags)}] — {sharers}")

    heading("Next")
    # After `make demo` the program is .venv/bin/watchbot, not on PATH: name it as it was run.
    program = sys.argv[0] if sys.argv[0].endswith("watchbot") else "watchbot"
    click.echo(
        f"The store is kept in {directory}: try\n"
        f"  WATCHBOT_DATABASE_URL={url} {program} links list\n"
        f"  WATCHBOT_DATABASE_URL={url} {program} export --format atom\n"
        "Matrix and Mastodon adapters, the weekly digest and feeds are next: see README.md, 'Roadmap'."
    )
