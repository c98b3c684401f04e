"""How long a status is, counted the way its server counts it, and text cut to fit. Pure.

Mastodon (StatusLengthValidator) counts grapheme clusters, after replacing every URL that has a
scheme by `characters_reserved_per_url` characters (23) and every mention `@user@server` by
`@user`. Other servers speaking its API count in their own ways (raw characters, often), so for
them, and for a server that did not say what it is, the count is conservative: every code point as
written (what Python's len and Go's rune count give: an emoji family is five, not one), a URL never
less than Mastodon would count it. The limits come from the instance
(`configuration.statuses`), with Mastodon's defaults (500 and 23) where a server says nothing;
other servers (GoToSocial, Akkoma) allow more.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import regex  # \X: grapheme clusters, as Ruby's each_grapheme_cluster counts them
from linkify_it import LinkifyIt

ELLIPSIS = "…"
# Links with a scheme only: Mastodon gives the URL discount to those alone.
_URLS = LinkifyIt(options={"fuzzy_link": False, "fuzzy_email": False, "fuzzy_ip": False})
# Mastodon's Account::MENTION_RE: the @server part of a mention does not count.
_MENTION = re.compile(r"(?<![/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)(?:@[\w.-]+\w+)?", re.IGNORECASE)
# Compiled once: `regex.findall(pattern, …)` looks its pattern up again each call (1 µs of flag
# arithmetic), and a digest's thread counts every line (bench/store_figures.py).
_GRAPHEME = regex.compile(r"\X")


@dataclass(frozen=True)
class StatusLimits:
    max_characters: int = 500
    characters_reserved_per_url: int = 23
    # True: Mastodon's rules (URLs count `characters_reserved_per_url`, mentions without their
    # server). False: conservative, for servers that count otherwise or refused a text as too
    # long although it fitted Mastodon's count.
    urls_discounted: bool = True


def limits_from_instance(instance_v2: Mapping[str, Any] | None, instance_v1: Mapping[str, Any] | None = None,
                         ) -> StatusLimits:
    """The limits a server announces (v2 `configuration.statuses`, else v1's, else Akkoma's and
    Pleroma's `max_toot_chars`); anything missing or odd keeps Mastodon's default. Mastodon's way
    of counting only for Mastodon."""
    default = StatusLimits(urls_discounted=counts_as_mastodon(instance_v2, instance_v1))
    for instance in (instance_v2, instance_v1):
        statuses = _get(instance, "configuration", "statuses")
        maximum = _positive(statuses.get("max_characters")) or _positive(_get(instance).get("max_toot_chars"))
        if maximum:
            reserved = _positive(statuses.get("characters_reserved_per_url"))
            return StatusLimits(maximum, reserved or default.characters_reserved_per_url, default.urls_discounted)
    return default


def counts_as_mastodon(instance_v2: Mapping[str, Any] | None, instance_v1: Mapping[str, Any] | None = None) -> bool:
    """Whether the server is Mastodon: it describes itself, and not as "(compatible; Akkoma …)",
    the way Akkoma, Pleroma and GoToSocial give their version."""
    versions = [_get(instance).get("version") for instance in (instance_v2, instance_v1) if instance]
    versions = [version for version in versions if isinstance(version, str)]
    return bool(versions) and not any("compatible" in version.lower() for version in versions)


def status_length(text: str, limits: StatusLimits = StatusLimits()) -> int:
    url_spans = [(m.index, m.last_index) for m in _URLS.match(text) or ()]  # match tests first itself
    if not url_spans:
        return _countable_length(text) if limits.urls_discounted else len(text)
    count, at = 0, 0
    for start, end in url_spans:
        if limits.urls_discounted:
            count += _countable_length(text[at:start]) + limits.characters_reserved_per_url
        else:
            count += len(text[at:start]) + max(len(text[start:end]), limits.characters_reserved_per_url)
        at = end
    rest = text[at:]
    return count + (_countable_length(rest) if limits.urls_discounted else len(rest))


def fit(text: str, limits: StatusLimits = StatusLimits()) -> str:
    """The text if it fits; else as much as fits, cut between words (never inside a URL), with "…"."""
    if status_length(text, limits) <= limits.max_characters:
        return text
    words = re.split(r"(\s+)", text)  # separators kept, so line breaks survive
    kept = ""
    for word in words:
        if status_length(kept + word + ELLIPSIS, limits) > limits.max_characters:
            break
        kept += word
    if not kept.strip():  # one enormous word: cut it by graphemes, as many as fit
        graphemes = _GRAPHEME.findall(text)
        low, high = 0, min(len(graphemes), limits.max_characters - 1)
        while low < high:  # the longest prefix that fits (a short URL in it may count 23)
            middle = (low + high + 1) // 2
            if status_length("".join(graphemes[:middle]) + ELLIPSIS, limits) <= limits.max_characters:
                low = middle
            else:
                high = middle - 1
        kept = "".join(graphemes[:low])
    return kept.rstrip() + ELLIPSIS


def split_lines(text: str, limits: StatusLimits = StatusLimits()) -> list[str]:
    """The text's lines packed into as few posts as fit, each line cut to fit if it must."""
    posts: list[str] = []
    for line in (fit(line, limits) for line in text.splitlines() if line.strip()):
        if posts and status_length(joined := f"{posts[-1]}\n{line}", limits) <= limits.max_characters:
            posts[-1] = joined
        else:
            posts.append(line)
    return posts


_LINK_NUMBER = re.compile(r"#(\d+)\b")
_LEADING_MENTIONS = re.compile(r"^(?:@\S+\s+)*")


def minimal_reply(text: str) -> str:
    """A reply said in the fewest characters, for a server that refused it however it was cut:
    its mentions and the numbers of the links it names ("@alice Filed #12–#17."), or its first
    sentence."""
    mentions = _LEADING_MENTIONS.match(text).group(0)
    body = text[len(mentions):]
    numbers = sorted({int(n) for n in _LINK_NUMBER.findall(body)})
    if numbers:
        span = f"#{numbers[0]}" if len(numbers) == 1 else (
            f"#{numbers[0]}–#{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1))
            else ", ".join(f"#{n}" for n in numbers))
        return f"{mentions}Filed {span}."
    first = re.split(r"(?<=[.!?])\s", body.strip(), maxsplit=1)[0]
    return f"{mentions}{first}"


def _countable_length(text: str) -> int:
    return _graphemes(_MENTION.sub(lambda m: "@" + m.group(1), text))


def _graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text))


def _get(mapping: Any, *path: str) -> Mapping[str, Any]:
    for key in path:
        mapping = mapping.get(key) if isinstance(mapping, Mapping) else None
    return mapping if isinstance(mapping, Mapping) else {}


def _positive(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None
