"""What the poller hands to the networks to post: an alert feed's new entry, a feed disabled.

Pure: each renders itself as plain text (a Matrix notice's body, a Mastodon status) and as HTML
(a Matrix notice's formatted_body). Posting them is the adapters' business.
"""

from __future__ import annotations

import html
from dataclasses import dataclass

CVE_RECORD = "https://www.cve.org/CVERecord?id={}"


@dataclass(frozen=True, slots=True)
class Alert:
    """A new entry of an alert feed, to post at once (it goes in the digest as well)."""

    feed_id: int
    feed_title: str
    entry_title: str | None
    link: str
    cve_ids: tuple[str, ...] = ()
    more: int = 0  # new entries of the same poll not alerted one by one (a flood is cut short)

    def text(self) -> str:
        lines = [f"{self.feed_title}: {self.entry_title or self.link}", self.link]
        if self.cve_ids:
            lines.append(", ".join(self.cve_ids))
        if self.more:
            lines.append(f"… and {self.more} more new from {self.feed_title} (in the digest).")
        return "\n".join(lines)

    def html(self) -> str:
        title = html.escape(self.entry_title or self.link)
        parts = [f"<b>{html.escape(self.feed_title)}</b>: <a href=\"{html.escape(self.link)}\">{title}</a>"]
        if self.cve_ids:
            parts.append(", ".join(f"<a href=\"{html.escape(CVE_RECORD.format(cve))}\">{cve}</a>"
                                   for cve in self.cve_ids))
        if self.more:
            parts.append(f"… and {self.more} more new from {html.escape(self.feed_title)} (in the digest).")
        return "<br>".join(parts)


@dataclass(frozen=True, slots=True)
class FeedDisabled:
    """A feed the bot stopped following on its own (a 410): the rooms are told once."""

    feed_id: int
    feed_title: str
    url: str
    reason: str

    def text(self) -> str:
        return (f"I stopped following the feed “{self.feed_title}” (#{self.feed_id}, {self.url}): {self.reason}. "
                f"A moderator can remove it with: feed rm {self.feed_id}")

    def html(self) -> str:
        return html.escape(self.text())
