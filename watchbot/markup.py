"""HTML that strangers wrote (chat messages, statuses, feed entries), read as a stream of tokens.

One WHATWG-conformant tokenizer (turbohtml's, in C) reads it all: its time is linear in the
input, and no input makes it raise. No tree is built: the HTML tree-building rules scan the stack
of open elements at each tag, so a deeply nested message costs the square of its length (or
worse) in every tree builder measured; readers here keep the little state they need themselves.
docs/decisions.md (13) says why this tokenizer; bench/bench_hostile.py measures it.

Only this module imports the tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from turbohtml import TokenType, tokenize

__all__ = ["END", "START", "TEXT", "Tag", "tokens"]

TEXT, START, END = "text", "start", "end"
# Looked up once: a message can hold tens of thousands of tokens.
_TEXT, _START, _END = TokenType.TEXT, TokenType.START_TAG, TokenType.END_TAG


class Tag(Protocol):
    """A start or end tag, as the tokenizer gives it (no object of ours per tag: they are many)."""

    @property
    def tag(self) -> str:
        """The name, lowercased."""
        ...

    def attr(self, name: str, default: str | None = None) -> str | None:
        """An attribute's value, entities decoded ("" when it has none); the first of repeated
        attributes wins, as in browsers. Names are lowercased."""
        ...


def tokens(html: str) -> Iterator[tuple[str, str] | tuple[str, Tag]]:
    """(TEXT, text) with entities decoded, (START, tag) and (END, tag), in order; comments,
    doctypes and processing instructions are left out. The text of <script>, <style>, <title>,
    <textarea> and the like is text, as a browser reads it, never tags."""
    for token in tokenize(html):
        kind = token.type
        if kind is _TEXT:
            yield TEXT, token.data
        elif kind is _START:
            yield START, token
            if token.self_closing:
                yield END, token  # "<x/>" opens and closes x, as html.parser read it
        elif kind is _END:
            yield END, token
