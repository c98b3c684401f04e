"""Options read from the settings by name: a component whose options are some of the settings,
under the same names, declares them as a frozen dataclass and builds it with `named_in`."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")


def named_in(cls: type[T], settings: Any) -> T:
    """`cls` with each field read from the settings attribute of its name (lists as tuples, so the
    options stay frozen all the way down)."""
    values = {field.name: getattr(settings, field.name) for field in fields(cls)}
    return cls(**{name: tuple(value) if isinstance(value, list) else value for name, value in values.items()})
