"""Text fit for the files that publish links (bookmarks, Atom).

What of a link may be published is decided once, by watchbot.published.view_of; this module
only makes that text safe for XML and for line-based readers.
"""

from __future__ import annotations

import re

# Characters XML 1.0 forbids (C0 controls but tab/newline/return, lone surrogates, U+FFFE/U+FFFF).
# A pasted title can carry them, and one of them makes the whole feed unreadable.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WHITESPACE_RUN = re.compile(r"\s+")


def xml_safe(text: str) -> str:
    return _NOT_XML_CHAR.sub("", text)


def one_line(text: str) -> str:
    """Titles and attributes on one line: line-based bookmark importers (Shaarli's) need it."""
    return _WHITESPACE_RUN.sub(" ", xml_safe(text)).strip()
