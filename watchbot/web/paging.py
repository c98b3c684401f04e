"""Pages of a kept list (the tags): `?page=N`, from 1, a fixed number of items each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from watchbot.commands.words import parse_number

T = TypeVar("T")


def page_number(raw: str | None) -> int | None:
    """The page asked for (1 when none is); None when `raw` names no page ("0", "²", "-1", "x")."""
    if raw is None:
        return 1
    number = parse_number(raw)
    return number if number is not None and number >= 1 else None


def page_of(items: Sequence[T], number: int, size: int) -> tuple[Sequence[T], bool]:
    """The items of page `number`, and whether a page follows."""
    start = (number - 1) * size
    return items[start:start + size], len(items) > start + size
