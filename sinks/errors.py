"""Errors the sinks raise.

    SinkError                   a sink could not take a batch; the batch must not be checkpointed
    ├── SinkConfigError         the target is unusable as configured (refuse to start)
    │   └── ObjectLockMissing   the archive bucket has no Object Lock while require_object_lock is set
    └── SinkClosed              the sink is shutting down and takes nothing more

botocore and HTTP client exceptions are translated at each sink's service boundary.
"""

from __future__ import annotations


class SinkError(Exception):
    pass


class SinkConfigError(SinkError):
    pass


class ObjectLockMissing(SinkConfigError):
    pass


class SinkClosed(SinkError):
    pass
