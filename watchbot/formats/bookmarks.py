"""Netscape bookmark files, the HTML every browser, linkding, Shaarli and Pinboard export and read.

Writing publishes (publishable shares only); reading is lenient, because files in the wild leave
<DT>, <DD> and <p> unclosed, nest folders in <DL>, and spell tags and attributes in any case.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from html import escape
from html.parser import HTMLParser
from typing import TextIO

from watchbot.formats.published import one_line, xml_safe
from watchbot.model import LinkRecord
from watchbot.published import PublishedLink, view_of

_HEADER = """<!DOCTYPE NETSCAPE-Bookmark-file-1>
<!-- This is an automatically generated file.
     It will be read and overwritten.
     DO NOT EDIT! -->
<META HTTP-EQUIV="Content-Type" CONTENT="text/html; charset=UTF-8">
<TITLE>{title}</TITLE>
<H1>{title}</H1>
<DL><p>
"""
_FOOTER = "</DL><p>\n"


def write_bookmarks(records: Iterable[LinkRecord], out: TextIO, *, title: str) -> int:
    out.write(_HEADER.format(title=escape(one_line(title))))
    written = 0
    for record in records:
        link = view_of(record)
        if link is not None:
            out.write(_bookmark_entry(link))
            written += 1
    out.write(_FOOTER)
    return written


def _bookmark_entry(link: PublishedLink) -> str:
    attributes = f'HREF="{escape(one_line(link.url))}"'
    attributes += f' ADD_DATE="{int(link.first_shared_at.timestamp())}"'
    if link.tags:
        attributes += f' TAGS="{escape(one_line(",".join(link.tags)))}"'
    entry = f"    <DT><A {attributes}>{escape(one_line(link.title or link.url))}</A>\n"
    if link.notes:
        # Notes keep their line breaks: <DD> runs to the next tag, and readers keep its text.
        entry += f"    <DD>{escape(xml_safe(link.notes))}\n"
    return entry


@dataclass(slots=True)
class RawBookmark:
    """One <A> as found, with its <DD> text; `imports` decides what its attributes mean."""

    line: int  # where its <A> starts
    attributes: dict[str, str | None]  # names lowercased by HTMLParser, values unescaped
    title_parts: list[str] = field(default_factory=list)
    note_parts: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        return " ".join("".join(self.title_parts).split())

    @property
    def note(self) -> str:
        return "".join(self.note_parts).strip()


@dataclass(frozen=True, slots=True)
class CutOff:
    """The file ends inside an <A> start tag: the bookmark it began cannot be read."""

    line: int  # where that <A> starts


# A bookmark's <DD> ends where the next item, folder or list begins.
_ITEM_BOUNDARIES = frozenset({"dt", "dl", "h3", "hr"})
_CHUNK = 1 << 16


def parse_bookmarks(text: str) -> Iterator[RawBookmark | CutOff]:
    """Bookmarks in file order, folders ignored, fed in chunks so a big file yields early.

    A file that ends inside an <A> tag (a download or copy cut short) ends with a CutOff rather
    than losing its last bookmark without a word.
    """
    parser = _NetscapeParser()
    for start in range(0, len(text), _CHUNK):
        parser.feed(text[start : start + _CHUNK])
        yield from parser.take_finished()
    cut_off = parser.take_unfinished_anchor()
    parser.close()
    parser.finish_pending()
    yield from parser.take_finished()
    if cut_off is not None:
        yield cut_off


_BOOKMARK_MARKUP = re.compile(r"<(?:a|dl)[\s>/]|<!doctype\s+netscape-bookmark-file", re.IGNORECASE)


def looks_like_bookmarks(text: str) -> bool:
    """Whether `text` has the markup of a bookmarks file, though perhaps no bookmark (an empty
    browser export still has its <DL>)."""
    return _BOOKMARK_MARKUP.search(text) is not None


_ANCHOR_START = re.compile(r"<a(?:\s|$)", re.IGNORECASE)


class _NetscapeParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._finished: list[RawBookmark] = []
        self._pending: RawBookmark | None = None
        self._in_anchor = False
        self._in_note = False

    def take_finished(self) -> list[RawBookmark]:
        finished, self._finished = self._finished, []
        return finished

    def take_unfinished_anchor(self) -> CutOff | None:
        """Once everything is fed: a CutOff if the text ends inside an <A> start tag.

        HTMLParser keeps what it cannot parse yet in `rawdata`, and getpos() is where that
        begins. The tag is taken out of it, or close() would hand it over as text, which would
        end up in the note of the bookmark before.
        """
        if not _ANCHOR_START.match(self.rawdata):
            return None
        self.rawdata = ""
        return CutOff(line=self.getpos()[0])

    def finish_pending(self) -> None:
        if self._pending is not None:
            self._finished.append(self._pending)
        self._pending = None
        self._in_anchor = self._in_note = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self.finish_pending()
            self._pending = RawBookmark(line=self.getpos()[0], attributes=dict(attrs))
            self._in_anchor = True
        elif tag == "dd" and self._pending is not None:
            self._in_anchor = False
            self._in_note = True
        elif tag in _ITEM_BOUNDARIES:
            self.finish_pending()
        elif tag == "br" and self._in_note:
            self._pending.note_parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor = False
        elif tag == "dl":
            self.finish_pending()

    def handle_data(self, data: str) -> None:
        if self._pending is None:
            return
        if self._in_anchor:
            self._pending.title_parts.append(data)
        elif self._in_note:
            self._pending.note_parts.append(data)
