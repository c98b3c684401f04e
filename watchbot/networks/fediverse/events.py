"""Mastodon statuses in, replies out: plain functions of the API's JSON, no network, no Mastodon.py.

Written against the Mastodon client API as documented, and kept to what other servers speaking it
(GoToSocial, Akkoma, Pleroma) also send: ids are opaque strings, fields may be missing or null.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from watchbot.consent import asks_to_be_left_alone
from watchbot.links import extract_hrefs, is_quote_fallback
from watchbot.markup import END, TEXT, Tag, tokens
from watchbot.model import Post, Source, Visibility

VISIBILITY = {
    "public": Visibility.PUBLIC,
    "unlisted": Visibility.UNLISTED,
    "private": Visibility.PRIVATE,
    "direct": Visibility.DIRECT,
}
# How the bot answers: a public mention gets an unlisted reply (no noise on the public timelines);
# followers-only and direct stay as private as they were.
REPLY_VISIBILITY = {"public": "unlisted", "unlisted": "unlisted", "private": "private", "direct": "direct"}


def status_links(status: Mapping[str, Any]) -> list[str]:
    """The links a status shares: its HTML's hrefs, never the shortened visible text, and never
    the links Mastodon makes of mentions and hashtags (found by class and rel, and by matching
    the status's own mentions[] and tags[], since other servers mark them differently)."""
    content = status.get("content") or ""
    not_shared = {m.get("url") for m in status.get("mentions") or []} | {t.get("url") for t in status.get("tags") or []}
    return [href for href in extract_hrefs(content) if href not in not_shared]


def mention_from_a_person(notification: Mapping[str, Any], own_id: str) -> Mapping[str, Any] | None:
    """The status of a mention the bot should read, or None: other notification types (some
    servers ignore the `types` filter and send them all), mentions without a status, the bot's
    own posts, and posts by bots (never answered, so two bots cannot talk forever)."""
    status = notification.get("status")
    if notification.get("type") != "mention" or not isinstance(status, Mapping):
        return None
    account = status.get("account") or {}
    if str(account.get("id")) == own_id or account.get("bot"):
        return None
    return status


def account_domain(instance_v2: Mapping[str, Any] | None, instance_v1: Mapping[str, Any] | None,
                   own_acct: str, api_host: str) -> str:
    """The domain the bot's account lives on, which names its places, outlets and local accounts:
    GoToSocial's `account_domain` (its accounts may live on a domain other than its host), else
    v2's `domain` (Mastodon's LOCAL_DOMAIN, not its web address), else v1's `uri`, else the
    domain in the account's own acct; the API's host only when the server says none of these. A
    port is left out (a development server's `localhost:3000`): a fediverse account with a colon
    would be taken for a Matrix id."""
    for value in (_field(instance_v2, "account_domain"), _field(instance_v1, "account_domain"),
                  _field(instance_v2, "domain"), _field(instance_v1, "uri"), own_acct.partition("@")[2]):
        domain = value.strip().lower().removeprefix("https://").removeprefix("http://").split("/")[0]
        domain = domain.rpartition(":")[0] if domain.rpartition(":")[2].isdigit() else domain
        if domain and "@" not in domain and " " not in domain:
            return domain
    return api_host


def _field(document: Mapping[str, Any] | None, key: str) -> str:
    value = document.get(key) if isinstance(document, Mapping) else None
    return value if isinstance(value, str) else ""


def account_id_of(account: Mapping[str, Any], instance: str) -> str:
    """A stable, global name for an account: user@server (local accounts have no @server)."""
    acct = str(account.get("acct") or account.get("username") or "")
    return acct if "@" in acct else f"{acct}@{instance}"


def opted_out(account: Mapping[str, Any]) -> bool:
    """#nobot or #noindex in the profile, or the account asked search engines not to index it."""
    return bool(account.get("noindex")) or asks_to_be_left_alone(html_to_text(account.get("note") or ""))


def status_left_alone(status: Mapping[str, Any], *, max_chars: int | None = None) -> bool:
    """#nobot or #noindex in the status itself (its tags, or its text as read): this post only.
    Content longer than `max_chars` is not read (as post_from_status does not): its tags say it."""
    names = {str(tag.get("name") or "").casefold() for tag in status.get("tags") or [] if isinstance(tag, Mapping)}
    content = status.get("content") or ""
    readable = max_chars is None or len(content) <= max_chars
    return bool(names & {"nobot", "noindex"}) or (readable and asks_to_be_left_alone(html_to_text(content)))


def post_from_status(status: Mapping[str, Any], instance: str, *, max_chars: int | None = None) -> Post:
    """The Post of a status. Content longer than `max_chars` is not read at all: its Post has no
    links, and intake refuses it by its length."""
    account = status.get("account") or {}
    readable = max_chars is None or len(status.get("content") or "") <= max_chars
    tags = tuple(str(t.get("name")) for t in status.get("tags") or [] if t.get("name"))
    return Post(
        source=Source.MASTODON,
        place=instance,
        author_id=account_id_of(account, instance),
        author_name=str(account.get("display_name") or account.get("username") or account_id_of(account, instance)),
        text="",  # hashtags come from tags[] and links from the HTML: nothing to scan in the text
        html=status.get("content") or "",
        # The status URI is the same however the status reached us (stream, poll, another
        # server's copy): a second delivery files nothing twice.
        event_id=status_uri(status),
        visibility=VISIBILITY.get(str(status.get("visibility")), Visibility.DIRECT),
        at=_time(status.get("created_at")),
        extra_tags=tags,
        links=tuple(status_links(status)) if readable else (),
    )


def status_uri(status: Mapping[str, Any]) -> str:
    """A status's global id: the same however it reached us (stream, poll, another server's copy)."""
    return str(status.get("uri") or status.get("url") or status.get("id"))


def command_text(status: Mapping[str, Any], own_acct: str) -> str:
    """The status as plain text without the leading @mentions: "@watch search rust" -> "search rust"."""
    words = html_to_text(status.get("content") or "").split()
    while words and words[0].startswith("@"):
        words.pop(0)
    return " ".join(words)


def reply_text(acct: str, lines: list[str]) -> str:
    """A reply that mentions only the person answered (not everyone else in the thread)."""
    return f"@{acct} " + "\n".join(lines)


def idempotency_key(purpose: str, status_id: str, secret: str) -> str:
    """The same key every time the bot answers the same status: a retry never posts twice. Keyed
    (an HMAC with `secret`, the bot's access token, which the store does not hold): status ids
    are close to a clock, so a plain hash of one is found again by trying the ids around a time.
    The `k` tells it from the unkeyed form of older versions (`legacy_idempotency_key`)."""
    return f"watchbot-{purpose}-k" + hmac.new(secret.encode(), status_id.encode(), hashlib.sha256).hexdigest()[:32]


def legacy_idempotency_key(purpose: str, status_id: str) -> str:
    """The unkeyed key of versions before decision 33's "Keys keyed": only to know rows owed
    before the upgrade again (outbox.rekey); never made for a new row."""
    return f"watchbot-{purpose}-" + hashlib.sha256(status_id.encode()).hexdigest()[:32]


LEGACY_KEY = re.compile(r"watchbot-([a-z]+)-([0-9a-f]{32})")


def html_to_text(content: str) -> str:
    """The text a reader sees: without the hidden parts of shortened links, and without the
    "RE: <link>" fallback of a quote post (clients show the quoted post instead)."""
    parts: list[str] = []
    hidden: list[str] = []  # open elements whose text is not shown
    for kind, token in tokens(content):
        if kind == TEXT:
            if not hidden:
                parts.append(token)
        elif kind == END:
            if hidden and hidden[-1] == token.tag:
                hidden.pop()
        else:
            if token.tag in ("br", "p") and not hidden:
                parts.append("\n")
            if _invisible(token) or is_quote_fallback(token):
                hidden.append(token.tag)
    return "".join(parts).strip()


def _invisible(tag: Tag) -> bool:
    # Mastodon shortens a link's visible text by hiding its start and end in these.
    return tag.tag == "span" and "invisible" in (tag.attr("class") or "").split()


def _time(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return datetime.now(timezone.utc)
