"""Parse JSON and remember the line each object starts on, so an import can point at a bad share.

The json module reports positions only for syntax errors. Its pure-Python scanner, though, takes
its object parser from the decoder, so a decoder whose `parse_object` wraps the standard one sees
where every object begins. Slower than the C scanner, which does not matter for an import.
"""

from __future__ import annotations

import bisect
import json
import re
from json.decoder import JSONObject
from json.scanner import py_make_scanner
from typing import Any


class LocatedDict(dict):
    """A JSON object that knows the 1-based line of its opening brace."""

    __slots__ = ("line",)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.line = 1


def loads_with_lines(text: str) -> Any:
    """Like json.loads, every object being a LocatedDict; raises json.JSONDecodeError alike."""
    newline_offsets = [match.start() for match in re.finditer("\n", text)]

    def parse_located_object(s_and_end, *args, **kwargs):  # type: ignore[no-untyped-def]
        brace = s_and_end[1] - 1
        obj, end = JSONObject(s_and_end, *args, **kwargs)
        obj.line = bisect.bisect_left(newline_offsets, brace) + 1
        return obj, end

    decoder = json.JSONDecoder(object_pairs_hook=LocatedDict)
    decoder.parse_object = parse_located_object  # type: ignore[assignment]
    decoder.scan_once = py_make_scanner(decoder)
    return decoder.decode(text)
