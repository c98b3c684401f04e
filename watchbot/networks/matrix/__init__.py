"""Matrix: the adapter (adapter.py), its pure event readers (events.py), the digest's outlets
(outlets.py), logging in (login.py) and the online check (check.py)."""

from watchbot.networks.matrix.adapter import (
    BACKFILL_PAGE,
    CURSOR,
    SYNC_TIMEOUT_MS,
    MatrixAdapter,
    MatrixOptions,
)
from watchbot.networks.matrix.outlets import MatrixDigestOutlet, MatrixDraftOutlet

__all__ = ["BACKFILL_PAGE", "CURSOR", "SYNC_TIMEOUT_MS", "MatrixAdapter", "MatrixDigestOutlet", "MatrixDraftOutlet",
           "MatrixOptions"]
