"""How many events one record may unwrap to, checked before any is made."""

from __future__ import annotations

from typing import TYPE_CHECKING

from parsers.errors import EnvelopeError

if TYPE_CHECKING:
    from parsers.envelopes import Unwrapped


def make_room(out: Unwrapped, more: int, what: str) -> None:
    """Raise EnvelopeError (`too_many_events`) before `more` events or pointers are added past `out.max_events`.

    Bytes do not bound events: 64 KiB of gzip are 33 million two-byte lines, and 0.8 KiB a million empty
    Security Hub findings, ~1 GB of a worker's memory per million events parsed (measured). An envelope
    calls this with the length of its list before it makes an Event of any entry.
    """
    if out.max_events is not None and len(out.items) + len(out.objects) + more > out.max_events:
        raise EnvelopeError(f"{what}: more than {out.max_events} events in one record "
                            "(pipeline.max_events_per_object); none were parsed", reason="too_many_events")
