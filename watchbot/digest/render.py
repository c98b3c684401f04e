"""How a digest reads on each outlet. Pure functions of a Digest.

Sharers are credited by display name, as plain text: a digest never pings anyone.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from watchbot.digest.build import Digest, DigestLink
from watchbot.status_text import StatusLimits, fit, status_length


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    html: str


def summary(digest: Digest, zone: ZoneInfo, *, so_far: bool = False) -> str:
    start = digest.period.start.astimezone(zone).strftime("%d %b")
    end = digest.period.end.astimezone(zone).strftime("%d %b %Y")
    when = f"{start} – {end}" + (" (so far)" if so_far else "")
    if not digest.link_count:
        feeds = f" ({digest.feed_count} from feeds)" if digest.feed_count else ""
        return f"Tech watch {when}: nothing shared yet{feeds}."
    people = "1 person" if digest.sharer_count == 1 else f"{digest.sharer_count} people"
    links = "1 link" if digest.link_count == 1 else f"{digest.link_count} links"
    tags = f"; top tags: {', '.join(digest.top_tags)}" if digest.top_tags else ""
    feeds = f"; {digest.feed_count} from feeds" if digest.feed_count else ""
    return f"Tech watch {when}: {links} from {people}{tags}{feeds}."


def render_matrix(digest: Digest, zone: ZoneInfo, *, so_far: bool = False, archive_url: str | None = None) -> Rendered:
    """A notice: HTML with a plain-text fallback that reads the same."""
    head = summary(digest, zone, so_far=so_far)
    text, markup = [head], [f"<p><strong>{html.escape(head)}</strong></p>"]
    for section in digest.sections:
        text += ["", f"#{section.tag}"] + [f"- {_plain(link)}" for link in section.links]
        markup.append(f"<h4>#{html.escape(section.tag)}</h4><ul>"
                      + "".join(f"<li>{_html(link)}</li>" for link in section.links) + "</ul>")
    if digest.feed_links:
        text += ["", FROM_FEEDS] + [f"- {_plain(link)}" for link in digest.feed_links]
        markup.append(f"<h4>{FROM_FEEDS}</h4><ul>" + "".join(f"<li>{_html(link)}</li>" for link in digest.feed_links)
                      + "</ul>")
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
    if digest.feed_links:
        lines += ["", f"## {FROM_FEEDS}", ""]
        lines += [f"- [{_escape_md(link.title or link.url)}]({link.url}) — {', '.join(link.sharers)}"
                  for link in digest.feed_links]
    more = _more(digest, archive_url)
    if more:
        lines += ["", more]
    return "\n".join(lines) + "\n"


# What one Matrix notice may carry, body and formatted body together: events are capped at
# 65,536 bytes with their envelope and signatures, so a part stays well under.
MATRIX_PART_BYTES = 24_000
FROM_FEEDS = "From the feeds"
MAX_CREDITED = 3  # sharers named per link in a thread post; the rest are counted
MAX_CREDIT_CHARACTERS = 100
MAX_LABEL = 200  # characters of a title (or URL) shown as a link's label in a notice


def render_matrix_parts(digest: Digest, zone: ZoneInfo, *, archive_url: str | None = None,
                        max_bytes: int = MATRIX_PART_BYTES) -> list[Rendered]:
    """The notice, split between links into parts that each fit an event (a section going on in
    the next part names its tag again); one part in the usual case."""
    whole = render_matrix(digest, zone, archive_url=archive_url)
    if _size(whole) <= max_bytes:
        return [whole]
    head = summary(digest, zone)
    items = [(f"#{section.tag}", link) for section in digest.sections for link in section.links]
    items += [(FROM_FEEDS, link) for link in digest.feed_links]
    parts = [_Part(max_bytes, head)]
    for heading, link in items:
        if not parts[-1].add(heading, link):
            parts.append(_Part(max_bytes))
            parts[-1].add(heading, link)  # one link always fits: labels and credits are capped
    more = _more(digest, archive_url)
    if more and not parts[-1].add_line(more):
        parts.append(_Part(max_bytes))
        parts[-1].add_line(more)
    return [part.rendered() for part in parts]


class _Part:
    """One Matrix notice of a split digest, filled link by link up to its size."""

    def __init__(self, max_bytes: int, head: str | None = None) -> None:
        self.max_bytes = max_bytes
        self.text: list[str] = [head] if head else []
        self.html: list[str] = [f"<p><strong>{html.escape(head)}</strong></p>"] if head else []
        self.heading: str | None = None

    def add(self, heading: str, link: DigestLink) -> bool:
        text, markup = [f"- {_plain(link)}"], [f"<li>{_html(link)}</li>"]
        if heading != self.heading:
            text = ["", heading] + text
            markup = (["</ul>"] if self.heading else []) + [f"<h4>{html.escape(heading)}</h4><ul>"] + markup
        if self.text and self._size_with(text, markup) > self.max_bytes:
            return False
        self.text += text
        self.html += markup
        self.heading = heading
        return True

    def add_line(self, line: str) -> bool:
        text, markup = ["", line], (["</ul>"] if self.heading else []) + [f"<p>{html.escape(line)}</p>"]
        if self.text and self._size_with(text, markup) > self.max_bytes:
            return False
        self.text += text
        self.html += markup
        self.heading = None
        return True

    def rendered(self) -> Rendered:
        closing = "</ul>" if self.heading else ""
        return Rendered("\n".join(self.text).strip("\n"), "".join(self.html) + closing)

    def _size_with(self, text: list[str], markup: list[str]) -> int:
        return sum(len(t.encode()) + 1 for t in self.text + text) + sum(len(m.encode()) for m in self.html + markup) + 5


def render_thread(digest: Digest, zone: ZoneInfo, limits: StatusLimits = StatusLimits(), *,
                  archive_url: str | None = None) -> list[str]:
    """A Mastodon thread: the summary and top hashtags first (the public, discoverable post),
    then the sections, packed into posts that fit the server's limit. A URL or a word is never
    cut; a title too long for a post is shortened."""
    root = summary(digest, zone)
    if digest.top_tags:
        root += "\n\n" + " ".join(f"#{tag}" for tag in digest.top_tags)
    posts = [fit(root, limits)]
    units: list[str] = []
    for section in digest.sections:
        lines = [_thread_line(link, f"#{section.tag}", limits) for link in section.links]
        units.append(f"#{section.tag}\n{lines[0]}")  # a heading never ends a post alone
        units += lines[1:]
    if digest.feed_links:
        lines = [_thread_line(link, FROM_FEEDS, limits) for link in digest.feed_links]
        units += [f"{FROM_FEEDS}\n{lines[0]}"] + lines[1:]
    if more := _more(digest, archive_url):
        units.append(fit(more, limits))
    current, length = "", 0
    for unit in units:
        # Lengths add up across a line break (no URL, mention or grapheme spans one): each unit
        # is counted once, not the whole post again for every line.
        unit_length = status_length(unit, limits)
        if unit_length > limits.max_characters:  # too long alone (a huge URL a server counts in full): cut
            unit = fit(unit, limits)
            unit_length = status_length(unit, limits)
        if current and length + 1 + unit_length <= limits.max_characters:
            current, length = f"{current}\n{unit}", length + 1 + unit_length
        else:
            if current:
                posts.append(current)
            current, length = unit, unit_length
    if current:
        posts.append(current)
    return posts


def render_json(digest: Digest) -> dict:
    """The same digest as data: the web archive, the export, any reuse."""
    return {
        "period": {"start": digest.period.start.isoformat(), "end": digest.period.end.isoformat()},
        "links": digest.link_count,
        "sharers": digest.sharer_count,
        "top_tags": list(digest.top_tags),
        "sections": [
            {"tag": section.tag, "links": [
                {"id": link.link_id, "url": link.url, "title": link.title, "tags": list(link.tags),
                 "sharers": list(link.sharers)} for link in section.links]}
            for section in digest.sections
        ],
        "more": digest.left_out,
        "from_feeds": [{"id": link.link_id, "url": link.url, "title": link.title, "feeds": list(link.sharers)}
                       for link in digest.feed_links],
    }


def _thread_line(link: DigestLink, heading: str, limits: StatusLimits) -> str:
    names = list(link.sharers[:MAX_CREDITED])
    if len(link.sharers) > MAX_CREDITED:
        names.append(f"{len(link.sharers) - MAX_CREDITED} more")
    credit = fit(", ".join(names), StatusLimits(MAX_CREDIT_CHARACTERS))  # display names can be long
    tail = f"{link.url} ({credit})"
    if not link.title:
        return tail
    # Room for the title: the post's limit less the section's heading and the rest of the line.
    room = limits.max_characters - status_length(f"{heading}\n— {tail}", limits) - 1
    title = fit(link.title, StatusLimits(max(room, 2), limits.characters_reserved_per_url, limits.urls_discounted))
    return f"{title} — {tail}"


def _size(rendered: Rendered) -> int:
    return len(rendered.text.encode()) + len(rendered.html.encode())


def _plain(link: DigestLink) -> str:
    title = f"{_capped(link.title)} — " if link.title else ""
    return f"{title}{link.url} ({_credits(link)})"


def _html(link: DigestLink) -> str:
    label = html.escape(_capped(link.title or link.url))
    return f'<a href="{html.escape(link.url, quote=True)}">{label}</a> — {html.escape(_credits(link))}'


def _capped(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _credits(link: DigestLink) -> str:
    """Who shared it, by name: the first few, then how many more (names can be long)."""
    names = [_capped(name, 60) for name in link.sharers[:MAX_CREDITED]]
    if len(link.sharers) > MAX_CREDITED:
        names.append(f"{len(link.sharers) - MAX_CREDITED} more")
    return ", ".join(names)


def _more(digest: Digest, archive_url: str | None) -> str | None:
    if not digest.left_out:
        return None
    where = f": {archive_url}" if archive_url else ""
    return f"And {digest.left_out} more in the archive{where}."


def _escape_md(text: str) -> str:
    return "".join("\\" + char if char in "[]\\*_`" else char for char in text)
