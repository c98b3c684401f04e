"""How a digest reads on each outlet. Pure functions of a Digest.

Sharers are credited by display name, as plain text: a digest never pings anyone.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from watchbot.digest.build import Digest, DigestLink


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    html: str


def summary(digest: Digest, zone: ZoneInfo, *, so_far: bool = False) -> str:
    start = digest.period.start.astimezone(zone).strftime("%d %b")
    end = digest.period.end.astimezone(zone).strftime("%d %b %Y")
    when = f"{start} – {end}" + (" (so far)" if so_far else "")
    if not digest.link_count:
        return f"Tech watch {when}: nothing shared yet."
    people = "1 person" if digest.sharer_count == 1 else f"{digest.sharer_count} people"
    links = "1 link" if digest.link_count == 1 else f"{digest.link_count} links"
    tags = f"; top tags: {', '.join(digest.top_tags)}" if digest.top_tags else ""
    return f"Tech watch {when}: {links} from {people}{tags}."


def render_matrix(digest: Digest, zone: ZoneInfo, *, so_far: bool = False, archive_url: str | None = None) -> Rendered:
    """A notice: HTML with a plain-text fallback that reads the same."""
    head = summary(digest, zone, so_far=so_far)
    text, markup = [head], [f"<p><strong>{html.escape(head)}</strong></p>"]
    for section in digest.sections:
        text += ["", f"#{section.tag}"] + [f"- {_plain(link)}" for link in section.links]
        markup.append(f"<h4>#{html.escape(section.tag)}</h4><ul>"
                      + "".join(f"<li>{_html(link)}</li>" for link in section.links) + "</ul>")
    more = _more(digest, archive_url)
    if more:
        text += ["", more]
        markup.append(f"<p>{html.escape(more)}</p>")
    return Rendered("\n".join(text), "".join(markup))


def render_markdown(digest: Digest, zone: ZoneInfo, *, so_far: bool = False, archive_url: str | None = None) -> str:
    lines = [f"# {summary(digest, zone, so_far=so_far)}"]
    for section in digest.sections:
        lines += ["", f"## #{section.tag}", ""]
        lines += [f"- [{_escape_md(link.title or link.url)}]({link.url}) — {', '.join(link.sharers)}"
                  for link in section.links]
    more = _more(digest, archive_url)
    if more:
        lines += ["", more]
    return "\n".join(lines) + "\n"


def _plain(link: DigestLink) -> str:
    title = f"{link.title} — " if link.title else ""
    return f"{title}{link.url} ({', '.join(link.sharers)})"


def _html(link: DigestLink) -> str:
    label = html.escape(link.title or link.url)
    return f'<a href="{html.escape(link.url, quote=True)}">{label}</a> — {html.escape(", ".join(link.sharers))}'


def _more(digest: Digest, archive_url: str | None) -> str | None:
    if not digest.left_out:
        return None
    where = f": {archive_url}" if archive_url else ""
    return f"And {digest.left_out} more in the archive{where}."


def _escape_md(text: str) -> str:
    return "".join("\\" + char if char in "[]\\*_`" else char for char in text)
