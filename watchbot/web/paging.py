"""Pages of a kept list (the tags): `?page=N`, from 1, a fixed number of items each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from watchbot.web.parameters import LINK_MAX, bounded_int

T = TypeVar("T")


def page_number(raw: str | None) -> int | None:
    """The page asked for (1 when none is); None when `raw` names no page ("0", "²", "-1", "x")."""
    return 1 if raw is None else bounded_int(raw, minimum=1, maximum=LINK_MAX)


def page_of(items: Sequence[T], number: int, size: int) -> tuple[Sequence[T], bool]:
    """The items of page `number`, and whether a page follows."""
    start = (number - 1) * size
    return items[start:start + size], len(items) > start + size
