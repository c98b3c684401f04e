"""Which host names may be shown as written, and which only in punycode, as browsers decide.

Pure: no network, no store. A host that could pass for another (`аррӏе.com`, all Cyrillic, reads
"apple.com"; `pаypal.com` mixes one Cyrillic letter into Latin) is shown in its ASCII form
(`xn--80ak6aa92e.com`), so a reader sees that it is not the host it looks like. A host written in
one script (`bücher.de`, `例え.jp`, `пример.рф`) stays readable.

The rule, label by label (one unsafe label puts the whole host in punycode, as Chromium does):

1. Every character is a letter, a mark or a digit of a script recommended for identifiers
   (Unicode UAX #31, table 5), or "-": anything else (a symbol, a historic script) is unsafe.
2. The scripts (by Script_Extensions) mix only as Unicode UTS #39's "moderately restrictive"
   level allows: one script; or Latin with Han and Hiragana/Katakana (Japanese), with Han and
   Bopomofo (Chinese), with Han and Hangul (Korean); or Latin with one other recommended script
   but Cyrillic or Greek. A label that mixes scripts may not hold a non-ASCII Latin letter
   (Chromium's rule: "é" beside another script is a look-alike too).
3. A label in one script whose letters of that script all look like Latin letters is a
   whole-script confusable (Chromium's check, its look-alike sets): unsafe, unless the top-level
   domain is one where that script is at home (`.ru` for Cyrillic, `.gr` for Greek, or a TLD
   written in that script).
"""

from __future__ import annotations

import functools
import unicodedata

import regex

__all__ = ["shown_in_punycode"]

# UAX #31, table 5: the scripts recommended for identifiers (Common and Inherited aside).
RECOMMENDED = (
    "Arabic", "Armenian", "Bengali", "Bopomofo", "Cyrillic", "Devanagari", "Ethiopic", "Georgian", "Greek",
    "Gujarati", "Gurmukhi", "Han", "Hangul", "Hebrew", "Hiragana", "Kannada", "Katakana", "Khmer", "Lao",
    "Latin", "Malayalam", "Myanmar", "Oriya", "Sinhala", "Tamil", "Telugu", "Thaana", "Thai", "Tibetan",
)
_IN_SCRIPT = {script: regex.compile(rf"\p{{Script_Extensions={script}}}") for script in RECOMMENDED}
_NEUTRAL = regex.compile(r"[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]")

# UTS #39 "highly restrictive" sets, allowed under "moderately restrictive" too.
_CJK = (frozenset({"Latin", "Han", "Hiragana", "Katakana"}), frozenset({"Latin", "Han", "Bopomofo"}),
        frozenset({"Latin", "Han", "Hangul"}))
# What "moderately restrictive" does not let mix with Latin (Cherokee is not recommended at all).
_NOT_WITH_LATIN = frozenset({"Cyrillic", "Greek"})


class _Confusable:
    """A script some of whose letters look like Latin ones, and the TLDs where it is at home."""

    def __init__(self, lookalikes: str, tlds: tuple[str, ...]) -> None:
        self.lookalikes = frozenset(lookalikes)
        self.tlds = frozenset(tlds)


# Chromium's whole-script confusable data (components/url_formatter/spoof_checks), lower case
# (labels are lower-cased before they are checked), for the scripts that pass for Latin.
WHOLE_SCRIPT_CONFUSABLES: dict[str, _Confusable] = {
    "Cyrillic": _Confusable("аысԁеԍһіюкјӏорԗԛѕԝхуъьҽпгѵѡ", ("bg", "by", "kz", "pyc", "ru", "su", "ua", "uz")),
    "Greek": _Confusable("αικνρυωηοτ", ("gr",)),
    "Armenian": _Confusable("ագզէլհյոսւօՙ", ("am",)),
    "Georgian": _Confusable("იოყძხჽჿ", ("ge",)),
    "Hebrew": _Confusable("דוחיןסװײ׳ﬦ", ("il",)),
}


@functools.lru_cache(maxsize=1024)
def shown_in_punycode(host: str) -> bool:
    """Whether `host` (as Unicode: an `xn--` label decoded, lower case) must be shown in its
    ASCII form rather than as written. An ASCII host is shown as it is."""
    if host.isascii():
        return False
    labels = host.rstrip(".").split(".")
    tld = labels[-1]
    return not all(_label_is_safe(label, tld) for label in labels)


def _label_is_safe(label: str, tld: str) -> bool:
    if label.isascii():
        return True
    scripts_of: list[frozenset[str]] = []  # each character's scripts, neutral ones left out
    for char in label:
        if char == "-" or char.isascii() and char.isalnum():
            scripts = frozenset({"Latin"}) if char.isalpha() else None
        elif unicodedata.category(char)[0] not in "LMN":
            return False  # a symbol or punctuation: nothing vouches for what it looks like
        else:
            scripts = frozenset(script for script, pattern in _IN_SCRIPT.items() if pattern.match(char))
            if not scripts:
                if _NEUTRAL.match(char):
                    continue  # a combining mark, a digit of no script
                return False  # a script not recommended for identifiers
        if scripts is not None:
            scripts_of.append(scripts)
    if not scripts_of:
        return True
    present = frozenset().union(*scripts_of)
    single = [script for script in present if all(script in scripts for scripts in scripts_of)]
    if single:
        return not any(_whole_script_confusable(label, script, tld) for script in single)
    groups = [*_CJK, *(frozenset({"Latin", script}) for script in present - _NOT_WITH_LATIN - {"Latin"})]
    if not any(all(scripts & group for scripts in scripts_of) for group in groups):
        return False
    # Mixed scripts: a Latin letter beside them must be plain ASCII.
    return not any(not char.isascii() and _IN_SCRIPT["Latin"].match(char) and char.isalpha() for char in label)


def _whole_script_confusable(label: str, script: str, tld: str) -> bool:
    confusable = WHOLE_SCRIPT_CONFUSABLES.get(script)
    if confusable is None or tld in confusable.tlds or _IN_SCRIPT[script].search(tld):
        return False
    letters = {char for char in label if char.isalpha() and _IN_SCRIPT[script].match(char)}
    return bool(letters) and letters <= confusable.lookalikes
