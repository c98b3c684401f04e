"""Export and import formats: pure functions between model values and text, no store, no network."""

from watchbot.formats.export import FORMATS, write_export
from watchbot.formats.imports import (
    IMPORT_FORMATS,
    ImportProblem,
    count_rows,
    detect_format,
    read_import,
)

__all__ = [
    "FORMATS",
    "IMPORT_FORMATS",
    "ImportProblem",
    "count_rows",
    "detect_format",
    "read_import",
    "write_export",
]
