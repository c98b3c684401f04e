"""The one registry of chat commands: each declared once, where it runs, with everything a person
or the desk needs to know about it.

A command is a handler decorated with `@command(...)`: its name and aliases, the words it takes,
one line of help, who may run it and the sentence that refuses anyone else. `help`, the README's
table (tests/test_command_registry.py keeps it true) and the desk's permission check all read
from here; adding a command is one decorated function and nothing else.

Who may run what (the desk checks it before the handler runs, so a handler never sees a caller
it must refuse):

| `Who`          | may run it                                                           | others get    |
|----------------|----------------------------------------------------------------------|---------------|
| MEMBER         | anyone the bot hears (a banned person only for `forget me`)          | -             |
| ROOM_MODERATOR | a room's moderators in their room; admins and the moderators' room  | `not_a_moderator` |
| STORE_WIDE     | admins, listed fediverse moderators, the moderators' room            | the spec's `refusal` |
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from watchbot.policy import not_a_moderator


class Who(Enum):
    MEMBER = "everyone"
    ROOM_MODERATOR = "a room's moderators"
    STORE_WIDE = "admins and the moderators' room"


class Needs(Enum):
    """What a command needs besides the store: said in one line where it is not there."""

    NOTHING = None
    MODERATION = "Moderation is not available here."
    FEEDS = "Feeds are not available here."


# (the command's words, the desk's Context) -> a Reply, or lines of text. The desk's types are
# not imported here: the desk imports the registry.
Handler = Callable[[tuple[str, ...], Any], Awaitable[Any]]

# Who reaches every room: said in each store-wide refusal.
STORE_WIDE_WHO = "only admins and the moderators' room may"


@dataclass(frozen=True, slots=True)
class Spec:
    """One chat command, as declared."""

    name: str
    handler: Handler
    usage: str  # the command and its words: "search WORDS"
    help: str  # one line: what it does
    who: Who = Who.MEMBER
    aliases: tuple[str, ...] = ()
    refusal: str | None = None  # the one sentence saying who may (a store-wide command's, or its store-wide part's)
    needs: Needs = Needs.NOTHING


COMMANDS: dict[str, Spec] = {}  # by name, in the order declared (help's order)
_BY_WORD: dict[str, Spec] = {}  # by name and alias


def command(name: str, *, usage: str, help: str, who: Who = Who.MEMBER, aliases: tuple[str, ...] = (),
            refusal: str | None = None, needs: Needs = Needs.NOTHING) -> Callable[[Handler], Handler]:
    """Declare the decorated handler as the chat command `name`."""
    if who is Who.STORE_WIDE and refusal is None:
        raise ValueError(f"{name}: a store-wide command says who may run it (refusal=...)")

    def declare(handler: Handler) -> Handler:
        spec = Spec(name, handler, usage, help, who, aliases, refusal, needs)
        for word in (name, *aliases):
            if word in _BY_WORD:
                raise ValueError(f"the command word “{word}” is declared twice")
            _BY_WORD[word] = spec
        COMMANDS[name] = spec
        return handler

    return declare


def spec_of(word: str) -> Spec | None:
    """The command a word names (its name or an alias), or None."""
    return _BY_WORD.get(word)


def refusal_of(name: str) -> str:
    """The sentence refusing `name` to someone who may not run it."""
    spec = COMMANDS[name]
    return spec.refusal or not_a_moderator(name)


def help_lines() -> list[str]:
    """`help`'s answer: everyone's commands first, then the moderators', from the declarations."""
    lines = ["Drop a link with a few #hashtags and I file it. Commands (after !watch, or mentioning me):"]
    for who in Who:
        specs = [spec for spec in COMMANDS.values() if spec.who is who]
        if who is not Who.MEMBER and specs:
            lines.append(f"For {who.value}:")
        lines += [f"{spec.usage} — {spec.help}" + _also(spec) for spec in specs]
    return lines


def readme_table() -> str:
    """The README's table of chat commands, as Markdown."""
    rows = ["| Command | Who | What it does |", "|---|---|---|"]
    rows += [f"| `{_cell(spec.usage)}`{_also(spec, markdown=True)} | {spec.who.value} | {_cell(spec.help)} |"
             for who in Who for spec in COMMANDS.values() if spec.who is who]
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")  # a pipe would end the table's cell


def _also(spec: Spec, *, markdown: bool = False) -> str:
    if not spec.aliases:
        return ""
    words = ", ".join(f"`{alias}`" if markdown else alias for alias in spec.aliases)
    return f" (also {words})"
