"""I/O to the places documents and records end up. Every sink takes work with `deliver(...)`, which returns
a `concurrent.futures.Future` that resolves once the work is durably taken (stored, indexed, dead-lettered
or spilled) and fails with `sinks.errors.SinkError` otherwise; the caller checkpoints only after all of a
batch's futures have resolved.

    sinks.archive    ArchiveSink.deliver(RecordBatch)          raw records to S3, Object Lock, manifests
    sinks.search     SearchSink.deliver([BulkItem, ...])       Elasticsearch / OpenSearch bulk `create`
    sinks.deadletter DeadLetterSink.deliver([DeadLetter, ...])  rejects and parse failures to S3
    sinks.s3store    LockedObjectStore.put(key, body)          the one writer of the archive bucket
"""
