"""Where apply-changes under mirror spends its time at a simulated round trip, and two variants (run by hand; prints JSON).

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench_profile.py [--items 4000] [--delays 5,20]

Servers as bench.py (dynalite + s3rver unless AWS_ENDPOINT_URL_* are set), every request through
bench_proxy.py. Wraps (monkeypatches, in this process only) the steps of a pass and sums, per step, the
calls, wall time per call and the calling thread's CPU per call (time.thread_time: botocore's
serializing and parsing; with the GIL, wall minus CPU is waiting for the server, the delay or the GIL):
Replicator._read_source (consistent BatchGetItem of a chunk, before the write and again to verify),
Replicator._changed_since (the verify step), Replicator._write (the chunk's BatchWriteItems of 25, one
after another), apply._read_pass (GetObject of every manifest of the pass, s3_workers threads, and
parsing), ManifestStore.list, ManifestStore.delete (on the S3 pool, overlapped with the
chunks), and apply.ChunkRunner.__call__ (a whole chunk). Variants, same data: as is (chunk_workers 4);
chunk_workers 8; and the chunk's BatchWriteItems sent at once (4 threads) instead of one after another.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import threading
import time

import bench  # beside this script
from backup_replication import apply, aws_clients, ddb_batch, manifest_format, manifest_store, replicate, table_keys
from backup_replication.transform import Transform

TOTALS = collections.defaultdict(lambda: [0, 0.0, 0.0])
LOCK = threading.Lock()


def wrap(owner, name, label):
    original = getattr(owner, name)

    def wrapper(*args, **kwargs):
        wall, cpu = time.monotonic(), time.thread_time()
        try:
            return original(*args, **kwargs)
        finally:
            with LOCK:
                entry = TOTALS[label]
                entry[0] += 1
                entry[1] += time.monotonic() - wall
                entry[2] += time.thread_time() - cpu
    setattr(owner, name, wrapper)
    return wrapper


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=4000)
    parser.add_argument("--delays", type=bench.numbers, default=[5, 20])
    options = parser.parse_args()
    wrap(replicate.Replicator, "_read_source", "BatchGetItem of a chunk (read and verify read)")
    wrap(replicate.Replicator, "_changed_since", "verify step (its BatchGetItem + compare)")
    timed_write = wrap(replicate.Replicator, "_write", "BatchWriteItem of 25 (one after another per chunk)")
    wrap(apply, "_read_pass", "pass read (GetObject of each manifest + parse)")
    wrap(manifest_store.ManifestStore, "list", "S3 listing")
    wrap(manifest_store.ManifestStore, "delete", "S3 DeleteObject (S3 pool)")
    wrap(apply.ChunkRunner, "__call__", "chunk of 100 keys (total)")

    def parallel_write(self, requests, refused=None):
        batches = [requests[start:start + 25] for start in range(0, len(requests), 25)]
        if len(batches) <= 1:
            return timed_write(self, requests, refused)
        parts = [{} for _ in batches]
        with concurrent.futures.ThreadPoolExecutor(len(batches)) as pool:
            list(pool.map(lambda pair: timed_write(self, pair[0], pair[1] if refused is not None else None),
                          zip(batches, parts)))
        if refused is not None:
            for part in parts:
                refused.update(part)

    helper = bench.ensure_servers()
    try:
        base = {"ddb": os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "s3": os.environ["AWS_ENDPOINT_URL_S3"]}
        setup, s3_setup = aws_clients.dynamodb_client(), aws_clients.s3_client()
        tag = str(int(time.time() * 1000))
        n = options.items
        warm = "prof-warm-" + tag
        bench.create_table(setup, warm)
        bench.raw_batch_write(setup, warm, [bench.item(i, 0) for i in range(3000)], 4, bench.Meter({}))
        source = "prof-src-" + tag
        bench.create_table(setup, source)
        bench.raw_batch_write(setup, source, [bench.item(i, 0) for i in range(n)], 4, bench.Meter({}))
        schema = table_keys.describe_key_schema(setup.describe_table(TableName=source))
        bucket = "prof-" + tag
        s3_setup.create_bucket(Bucket=bucket)
        out = {"items": n, "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
        run = 0
        for delay in options.delays:
            proxy, mapping = bench.start_proxy(delay, [base["ddb"], base["s3"]])
            try:
                os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = mapping[base["ddb"]]
                os.environ["AWS_ENDPOINT_URL_S3"] = mapping[base["s3"]]
                client, s3 = aws_clients.dynamodb_client(), aws_clients.s3_client()
                meter = bench.Meter({"node": helper.pid, "proxy": proxy.pid} if helper else {"proxy": proxy.pid})
                for variant, chunk_workers, parallel in (("as is (chunk_workers 4)", 4, False),
                                                         ("chunk_workers 8", 8, False),
                                                         ("BatchWriteItems of a chunk at once", 4, True)):
                    run += 1
                    prefix = "r%d/" % run
                    for start in range(0, n, 100):
                        name, body = manifest_format.build_manifest([{"id": {"S": "bench#%07d" % i}}
                                                                     for i in range(start, min(n, start + 100))])
                        s3_setup.put_object(Bucket=bucket, Key=prefix + name, Body=body)
                    backup = "prof-b%d-%s" % (run, tag)
                    bench.create_table(setup, backup)
                    replicate.Replicator._write = parallel_write if parallel else timed_write
                    replicator = replicate.Replicator(client, source, backup, schema, Transform(), "mirror",
                                                      ddb_batch.Stats(), ddb_batch.RetryPolicy())
                    TOTALS.clear()
                    before = meter.snapshot()
                    result = apply.run(manifest_store.ManifestStore(s3, bucket, prefix), replicator,
                                       apply.ApplySettings(chunk_workers=chunk_workers), schema,
                                       log=lambda *a, **k: None)
                    wall, cpu = meter.since(before)
                    out["%gms, %s" % (delay, variant)] = {
                        "items_per_second": round(result.keys / wall, 1), "seconds": round(wall, 2),
                        "cores": cpu["cores"],
                        "steps": dict((label, {"calls": calls, "wall_ms_per_call": round(seconds / calls * 1000, 1),
                                               "thread_cpu_ms_per_call": round(cpu_s / calls * 1000, 2)})
                                      for label, (calls, seconds, cpu_s) in sorted(TOTALS.items()))}
            finally:
                proxy.stdin.close()
                proxy.wait(timeout=30)
        replicate.Replicator._write = timed_write
        out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        print(json.dumps(out, indent=2))
    finally:
        bench.stop_servers(helper)


if __name__ == "__main__":
    main()
