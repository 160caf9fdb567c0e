"""Errors the sinks raise.

    SinkError                   a sink could not take a batch; the batch must not be checkpointed
    ├── SinkConfigError         the target is unusable as configured (refuse to start)
    │   └── ObjectLockMissing   the archive bucket has no Object Lock while require_object_lock is set
    ├── ChainHeadRejected       the archive's chain head in S3 is not one its writer would have written
    │                           (bad signature, implausible); records are not dropped on its strength
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


class ChainHeadRejected(SinkError):
    pass


class SinkClosed(SinkError):
    pass
