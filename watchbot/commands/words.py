"""Reading what a person typed: the command and its words, and numbers in them. Pure, and never
raising, whatever the text: a stranger may type anything after `!watch`."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PREFIX = "!watch"
# Every number a command takes (a link, a held post, a feed, a count) fits a PostgreSQL integer.
LARGEST_NUMBER = 2**31 - 1


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    args: tuple[str, ...]


def parse_command(text: str, prefix: str = DEFAULT_PREFIX, *, addressed: bool = False) -> Command | None:
    """`!watch search rust` -> Command("search", ("rust",)). With `addressed` (the bot was
    mentioned and the mention already taken off), the text is a command without the prefix."""
    stripped = text.strip()
    head, _, rest = stripped.partition(" ")
    if head.lower() == prefix.lower():
        words = rest.split()
    elif addressed:
        words = stripped.split()
    else:
        return None
    if not words:
        return Command("help", ())
    return Command(words[0].lower(), tuple(words[1:]))


def parse_number(text: str) -> int | None:
    """"12" or "#12" -> 12; None for anything else: other digits than ASCII ones ("²", "١٢"),
    signs, spaces, or more than a PostgreSQL integer holds."""
    text = text.removeprefix("#")
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(LARGEST_NUMBER)):
        return None
    number = int(text)
    return number if number <= LARGEST_NUMBER else None
