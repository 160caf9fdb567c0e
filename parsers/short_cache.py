"""Result caches for functions of text that a log line's writer chooses: only short texts are kept.

Flow logs, CloudTrail and DNS logs repeat the same few dates, keys and names, so their conversions are worth
caching; but a cache of tens of thousands of entries keyed by whatever a field holds would keep every long
value alive (GiBs per worker at 64 KiB a value, measured). Real values are short, so only texts up to a
length are cached, and a longer one is computed each time (it is rare, and nothing real).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache, update_wrapper
from typing import Any, TypeVar

R = TypeVar("R")


def cached_when_short(up_to: int, maxsize: int) -> Callable[[Callable[[str], R]], Callable[[str], R]]:
    """Decorate a function of one text: results for texts of at most `up_to` characters are cached (LRU,
    `maxsize` entries); `.cache_info()` tells of that cache."""

    def decorate(fn: Callable[[str], R]) -> Callable[[str], R]:
        cached = lru_cache(maxsize=maxsize)(fn)

        def call(text: str) -> R:
            return cached(text) if len(text) <= up_to else fn(text)

        wrapper: Any = update_wrapper(call, fn)
        wrapper.cache_info = cached.cache_info
        wrapper.cache_clear = cached.cache_clear
        return wrapper  # type: ignore[no-any-return]

    return decorate
