"""`secstash demo --once --events 20000`: the README's first command, on its own emulators, balances."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def test_demo_once_summary_accounts_for_every_event_and_record(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "consumer.cli", "demo", "--once", "--events", "20000"],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    lines = done.stdout.strip().splitlines()
    assert done.returncode == 0, f"demo failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    match = re.fullmatch(r"demo: records_in=(\d+) events_in=(\d+) indexed=(\d+) dropped=(\d+) "
                         r"dead_lettered=(\d+) archived_records=(\d+)", lines[-1])
    assert match, f"last line is not the summary: {lines[-1]!r}"
    records_in, events_in, indexed, dropped, dead, archived = map(int, match.groups())
    assert events_in == indexed + dropped + dead
    assert archived == records_in
    assert indexed >= 20000 + 25  # every generated event and the ALB log file's 25 lines; the broken ones are
    # the dropped and dead-lettered
    assert "S3 log objects read for notifications: 1" in lines
    assert dead >= 2 and dropped >= 2  # the deliberately broken record, bad event and header lines
    print("\n" + "\n".join(lines[-6:]))
