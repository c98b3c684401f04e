"""Consent: who or what asked bots to leave them alone (#nobot, #noindex), and the one thing kept
to tell them so only once, a keyed hash. Pure: no network, no store."""

from __future__ import annotations

import hashlib
import hmac
import re

from watchbot.links import prose

__all__ = ["OPT_OUT", "asks_to_be_left_alone", "opted_out_mark"]

# "#nobot" or "#noindex" as a hashtag: not inside a word ("a#nobot"), not a "##".
OPT_OUT = re.compile(r"(?<![\w#])#(nobot|noindex)\b", re.IGNORECASE)


def asks_to_be_left_alone(text: str | None) -> bool:
    """#nobot or #noindex in what `text` says in its own words: a fragment of a link
    ("https://x.org/#nobot") or the quote of the message it answers (Matrix's reply fallback)
    does not count. For a message, a profile's text or a display name."""
    return bool(text) and OPT_OUT.search(prose(text)) is not None


def opted_out_mark(who: str, secret: str) -> str:
    """What the store keeps of someone who opted out and was told so once (or of what they
    posted): a keyed hash of it. The key is the bot's access token on that network, which is not
    in the store, so a copy of the store can neither list these accounts nor test a guess."""
    return hmac.new(secret.encode(), who.casefold().encode(), hashlib.sha256).hexdigest()[:32]
