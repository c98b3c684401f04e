"""What of a link may be published (bookmarks, Atom): only what its public or unlisted shares say.

Private and direct shares must not leak into a public file, not even through the URL as they
posted it, their tags or their notes: everything below comes from the publishable shares alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from watchbot.formats.fields import as_utc
from watchbot.model import LinkRecord, Share

# Characters XML 1.0 forbids (C0 controls but tab/newline/return, lone surrogates, U+FFFE/U+FFFF).
# A pasted title can carry them, and one of them makes the whole feed unreadable.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WHITESPACE_RUN = re.compile(r"\s+")


def xml_safe(text: str) -> str:
    return _NOT_XML_CHAR.sub("", text)


def one_line(text: str) -> str:
    """Titles and attributes on one line: line-based bookmark importers (Shaarli's) need it."""
    return _WHITESPACE_RUN.sub(" ", xml_safe(text)).strip()


@dataclass(frozen=True, slots=True)
class PublishedLink:
    key: str
    url: str  # as first posted publicly (the first share overall may have been private)
    title: str  # the page's title, or the URL when it has none
    description: str | None
    tags: tuple[str, ...]  # union of the publishable shares' tags, sorted
    first_shared_at: datetime  # UTC
    last_shared_at: datetime  # UTC
    author: str  # who shared it publicly first
    notes: str | None


def published_view(record: LinkRecord) -> PublishedLink | None:
    """The public face of a link, or None when no share of it may be published."""
    shares = sorted(
        (share for share in record.shares if share.visibility.publishable),
        key=lambda share: (as_utc(share.shared_at), share.id),
    )
    if not shares:
        return None
    first = shares[0]
    link = record.link
    return PublishedLink(
        key=link.key,
        url=first.url,
        title=link.title or first.url,
        description=link.description or None,
        tags=tuple(sorted({tag for share in shares for tag in share.tags})),
        first_shared_at=as_utc(first.shared_at),
        last_shared_at=max(as_utc(share.shared_at) for share in shares),
        author=first.sharer_name or first.sharer_id,
        notes=_joined_notes(shares, first),
    )


def _joined_notes(shares: list[Share], first: Share) -> str | None:
    """The notes, each credited to its sharer unless it is the only one and the author's own."""
    noted = [share for share in shares if share.note and share.note.strip()]
    if not noted:
        return None
    if len(noted) == 1 and noted[0].sharer_id == first.sharer_id:
        return noted[0].note.strip()
    return "\n\n".join(
        f"{share.sharer_name or share.sharer_id}: {share.note.strip()}" for share in noted
    )
