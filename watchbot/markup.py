"""HTML that strangers wrote (chat messages, statuses, feed entries), read as a stream of tokens.

One WHATWG-conformant tokenizer (turbohtml's, in C) reads it all: its time is linear in the
input, and no input makes it raise. No tree is built: the HTML tree-building rules scan the stack
of open elements at each tag, so a deeply nested message costs the square of its size (or worse)
in every tree builder measured; readers here keep the small state they need themselves.
docs/decisions.md (10) says why this tokenizer, and bench/bench_hostile.py measures it.

Only this module imports the tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import NamedTuple

from turbohtml import TokenType, tokenize

__all__ = ["EndTag", "StartTag", "tokens"]


class StartTag(NamedTuple):
    name: str  # lowercased
    attrs: dict[str, str]  # names lowercased, entities decoded; the first of repeated ones wins


class EndTag(NamedTuple):
    name: str


def tokens(html: str) -> Iterator[StartTag | EndTag | str]:
    """Start tags, end tags and text (entities decoded) of `html`, in order; comments, doctypes
    and processing instructions are left out. The text of <script>, <style>, <title>,
    <textarea> and the like is text, as a browser reads it, never tags."""
    for token in tokenize(html):
        kind = token.type
        if kind is TokenType.TEXT:
            yield token.data
        elif kind is TokenType.START_TAG:
            # The tokenizer keeps the first of repeated attributes, as browsers do.
            yield StartTag(token.tag, dict(token.attrs))
            if token.self_closing:
                yield EndTag(token.tag)  # "<x/>" opens and closes x, as html.parser read it
        elif kind is TokenType.END_TAG:
            yield EndTag(token.tag)
