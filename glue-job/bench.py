"""Throughput of the replication code against dynalite on this machine (run by hand; prints JSON).

    /usr/bin/python3 glue-job/bench.py [--items 10000] [--segments 8]

Uses AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 when set, else starts dynalite and s3rver with
glue-job/tests/local_servers.js (needs node and the project's node_modules). Measures, in one run:
- raw BatchWriteItem: N items written with bare batch_write_item calls of 25 (the floor for any copy);
- full-copy: the segment copier over all segments, run one after another in this process (Spark's
  executors would run them in parallel), under retain (one conditional PutItem per item, through the
  writer's thread pool) and under mirror (BatchWriteItem), with and without write verification;
- apply-changes: N changed keys delivered as manifests of 100 keys, drained by apply.run, under retain
  and under mirror (each into its own backup table, same manifests).
requests_per_item counts DynamoDB requests (Scan, BatchGetItem, GetItem, BatchWriteItem, PutItem) per
item. Numbers on
dynalite measure the client-side cost (botocore's parsing dominates); they are not DynamoDB's.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))

import boto3  # noqa: E402
import botocore  # noqa: E402

import apply  # noqa: E402
import aws_clients  # noqa: E402
import ddb_batch  # noqa: E402
import manifests  # noqa: E402
import replicate  # noqa: E402
import scan_copy  # noqa: E402
import table_keys  # noqa: E402
from transform import Transform  # noqa: E402


def ensure_servers():
    if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") and os.environ.get("AWS_ENDPOINT_URL_S3"):
        return None
    helper = subprocess.Popen(["node", os.path.join(HERE, "tests", "local_servers.js")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    os.environ.update(json.loads(helper.stdout.readline().decode()))
    return helper


def item(i, version):
    return {"id": {"S": "bench#%07d" % i}, "version": {"N": str(version)},
            "amount": {"N": "%d.%02d" % (i * 7919 % 1000003, i % 100)}, "note": {"S": "n" * (i % 64)},
            "flags": {"SS": ["a", "b%d" % (i % 5)]}, "raw": {"B": bytes([i % 256]) * 16}}


def create_table(client, name):
    client.create_table(TableName=name, KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
                        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
                        BillingMode="PAY_PER_REQUEST")
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 0.05, "MaxAttempts": 100})


def rate(count, seconds, stats=None):
    result = {"items": count, "seconds": round(seconds, 3), "items_per_second": round(count / seconds, 1)}
    if stats is not None:
        requests = stats.read_requests + stats.write_requests + stats.scan_requests
        result["requests_per_item"] = round(requests / float(count), 4)
        result["requests"] = {"scan": stats.scan_requests, "reads": stats.read_requests,
                              "writes": stats.write_requests}
    return result


def raw_batch_write(client, table, items):
    started = time.monotonic()
    requests = 0
    for start in range(0, len(items), 25):
        response = client.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": it}} for it in items[start:start + 25]]})
        requests += 1
        if response.get("UnprocessedItems"):
            raise RuntimeError("dynalite returned unprocessed items")
    seconds = time.monotonic() - started
    out = rate(len(items), seconds)
    out["requests_per_item"] = round(requests / float(len(items)), 4)
    return out


def full_copy(client, source, backup, schema, segments, verify, policy, workers):
    stats = ddb_batch.Stats()
    replicator = replicate.Replicator(client, source, backup, schema, Transform(), policy, stats,
                                      ddb_batch.RetryPolicy(), verify=verify, write_workers=workers)
    started = time.monotonic()
    for segment in range(segments):
        scan_copy.copy_segment(client, replicator, segment, segments)
    return rate(stats.scanned, time.monotonic() - started, stats)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10000)
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8, help="conditional-write threads (retain)")
    options = parser.parse_args()
    helper = ensure_servers()
    try:
        client = aws_clients.dynamodb_client()
        s3 = aws_clients.s3_client()
        suffix = str(int(time.time() * 1000))
        source = "bench-src-" + suffix
        backups = dict((name, "bench-%s-%s" % (name, suffix)) for name in ("retain", "mirror", "noverify"))
        for name in [source] + list(backups.values()):
            create_table(client, name)
        schema = table_keys.describe_key_schema(client.describe_table(TableName=source))
        n, workers = options.items, options.workers
        results = {"items": n, "segments": options.segments, "workers": workers}
        results["raw_batch_write"] = raw_batch_write(client, source, [item(i, 0) for i in range(n)])
        for policy in ("retain", "mirror"):
            results["full_copy_" + policy] = full_copy(client, source, backups[policy], schema, options.segments,
                                                       True, policy, workers)
        results["full_copy_retain_without_verify"] = full_copy(client, source, backups["noverify"], schema,
                                                               options.segments, False, "retain", workers)
        raw_batch_write(client, source, [item(i, 1) for i in range(n)])  # every item changes
        bucket = "bench-" + suffix
        s3.create_bucket(Bucket=bucket)
        for policy in ("retain", "mirror"):
            for start in range(0, n, 100):
                name, body = manifests.build_manifest([{"id": {"S": "bench#%07d" % i}}
                                                       for i in range(start, min(n, start + 100))])
                s3.put_object(Bucket=bucket, Key=policy + "/" + name, Body=body)
        for policy in ("retain", "mirror"):
            stats = ddb_batch.Stats()
            replicator = replicate.Replicator(client, source, backups[policy], schema, Transform(), policy, stats,
                                              ddb_batch.RetryPolicy(), write_workers=workers)
            started = time.monotonic()
            result = apply.run(s3, replicator, apply.ApplySettings(bucket, policy + "/", "rejected/"), schema,
                               log=lambda *a, **k: None)
            out = results["apply_changes_" + policy] = rate(result.keys, time.monotonic() - started, stats)
            out["manifests"] = result.manifests_applied
            out["manifests_per_second"] = round(result.manifests_applied / out["seconds"], 1)
        results["environment"] = {"python": platform.python_version(), "boto3": boto3.__version__,
                                  "botocore": botocore.__version__, "cpus": os.cpu_count(),
                                  "server": "dynalite 4 (in-memory) and s3rver 3.7 on loopback"}
        print(json.dumps(results, indent=2))
    finally:
        if helper is not None:
            helper.stdin.close()
            helper.wait(timeout=30)


if __name__ == "__main__":
    main()
