"""Put sample events of every source onto a Kinesis stream, packed as AWS packs them (the compose demo's
generator): `python -m consumer.demo_events --endpoint http://localstack:4566 --stream secstash-demo`."""

from __future__ import annotations

import argparse
import sys
import time

import boto3

from consumer import corpus


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--endpoint", help="Kinesis endpoint (LocalStack, kinesis-local); default: AWS")
    parser.add_argument("--stream", required=True)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--events-per-second", type=float, default=200.0)
    parser.add_argument("--total", type=int, default=0, help="stop after this many events (0: run until killed)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    kinesis = boto3.client("kinesis", region_name=args.region, endpoint_url=args.endpoint)
    sent = 0
    seed = args.seed
    while args.total == 0 or sent < args.total:
        started = time.monotonic()
        chunk = 500 if args.total == 0 else min(500, args.total - sent)
        records = list(corpus.records(chunk, seed=seed, mix=corpus.EVEN_MIX))
        for start in range(0, len(records), 250):
            batch = records[start:start + 250]
            kinesis.put_records(StreamName=args.stream,
                                Records=[{"Data": r.data, "PartitionKey": r.partition_key} for r in batch])
        sent += chunk
        seed += 1
        print(f"put {sent} events", file=sys.stderr, flush=True)
        time.sleep(max(0.0, chunk / args.events_per_second - (time.monotonic() - started)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
