"""Session-wide settings every test shares."""

from __future__ import annotations

import os

# Fake AWS credentials, set before any test starts a process: the tests only talk to local emulators, a
# developer's real credentials must never be used by accident, and every process started later (the parser
# pool's forkserver and its workers, the daemons) inherits these.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
    os.environ.pop(_name, None)
os.environ["AWS_ACCESS_KEY_ID"] = "test"
os.environ["AWS_SECRET_ACCESS_KEY"] = "test"
