"""'Did you mean' suggestions for misspelled names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_matches(word: str, candidates: Iterable[str], limit: int = 3) -> str:
    """The closest candidates to word, joined for a message ('' when none is close)."""
    pool = list(candidates)
    found = difflib.get_close_matches(word, pool, n=limit, cutoff=0.5)
    if not found:
        lowered = word.lower()
        found = [c for c in pool if lowered and (lowered in c.lower() or c.lower() in lowered)]
    return ", ".join(repr(f) for f in found[:limit])
