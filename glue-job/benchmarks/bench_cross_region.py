"""apply-changes with the backup in another region: its throughput when the backup's requests take a
cross-region round trip and everything else a same-region one, beside both at the same-region one, in
one run (run by hand; prints JSON).

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench_cross_region.py [--items 2000] [--repeat 3]
        [--near-ms 2] [--far-ms 70] [--chunk-workers 1,8,16]

The backup is named by ARN (`--backup_table arn:aws:dynamodb:<region>:<account>:table/<name>`), so the
jobs' DynamoDB client signs its requests for the ARN's region (aws_clients.RegionalDynamoDB). Every
DynamoDB and S3 request goes through one bench_proxy.py process, which delays a request by the region it
is signed for: `--far-ms` for eu-west-1, `--near-ms` for the rest (us-east-1: the source, the bucket).
`same_region`: the backup's ARN names us-east-1, so all of it waits near-ms; `cross_region`: it names
eu-west-1. Default 70 ms: a typical us-east-1 <-> eu-west-1 round trip; 2 ms: within a region.

DynamoDB is AWS's DynamoDB Local (it takes a table ARN as TableName and ignores its account and region;
dynalite refuses ARNs), S3 is s3rver: servers as bench.py (AWS_ENDPOINT_URL_S3 when set, else
local_servers.js; DynamoDB Local always started here). In each repeat, interleaved, on fresh backup
tables and manifests of 100 keys: retain and mirror, same_region and cross_region, each with every
`--chunk-workers` count of chunks synced at once, drained by apply.run in this process with the job's
other settings (ApplySettings(), the writer's threads). The job syncs ApplySettings().chunk_workers (8)
chunks at once in a process or a Spark task; 1 shows what one chunk's round trips cost; more stands for
more Spark tasks, each syncing its own chunks (the Python shell job has no setting for it). Each figure
is the median over the repeats; ratios are medians of the per-repeat ratios (neighbours in time):
cross_region vs same_region at each count, and at each count vs same_region at the job's. `cores` tell
what bound a measurement: the client (this process), DynamoDB Local (a JVM) and the proxy share the
machine's cores.
"""

import argparse
import json
import os
import time

import bench  # beside this script
from backup_replication import apply, aws_clients, item_writer, manifest_format, table_keys

NEAR, FAR = "us-east-1", "eu-west-1"
ACCOUNT = "222222222222"


def arn(region, name):
    return "arn:aws:dynamodb:%s:%s:table/%s" % (region, ACCOUNT, name)


def put_manifests(s3, bucket, prefix, count):
    for start in range(0, count, 100):
        name, body = manifest_format.build_manifest([{"id": {"S": "bench#%07d" % i}}
                                                     for i in range(start, min(count, start + 100))])
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000, help="changed keys (chunks of 100)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--near-ms", type=float, default=2.0, help="round trip within the region")
    parser.add_argument("--far-ms", type=float, default=70.0, help="round trip to the backup's region")
    parser.add_argument("--chunk-workers", type=bench.numbers, default=[1, 8, 16])
    options = parser.parse_args()
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # only S3 may be the caller's: DynamoDB is DynamoDB Local
    helper = bench.ensure_servers() if not os.environ.get("AWS_ENDPOINT_URL_S3") else None
    local, proxy = None, None
    settings = apply.ApplySettings()
    out = {"items": options.items, "repeats": options.repeat, "near_ms": options.near_ms, "far_ms": options.far_ms,
           "chunk_workers": settings.chunk_workers, "write_workers": item_writer.DEFAULT_WORKERS,
           "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    try:
        local, ddb_endpoint, _ = bench.start_dynamodb_local()
        s3_endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ddb_endpoint
        setup, setup_s3 = aws_clients.dynamodb_client(NEAR), aws_clients.s3_client()
        proxy, mapping = bench.start_proxy(options.near_ms, [ddb_endpoint, s3_endpoint], {FAR: options.far_ms})
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = mapping[ddb_endpoint]
        os.environ["AWS_ENDPOINT_URL_S3"] = mapping[s3_endpoint]
        client, s3 = aws_clients.dynamodb_client(NEAR), aws_clients.s3_client()
        counter = bench.S3Counter(s3)
        pids = {"java (DynamoDB Local)": local.pid, "proxy": proxy.pid}
        if helper is not None:
            pids["node (s3rver)"] = helper.pid
        meter = bench.Meter(pids)
        n, tag = options.items, str(int(time.time() * 1000))
        source = "xr-src-" + tag
        bench.create_table(setup, source)
        items = [bench.item(i, 0) for i in range(n)]
        bench.raw_batch_write(setup, source, items, 4, bench.Meter({}))
        warm = "xr-warm-" + tag  # a fresh JVM answers its first thousands of requests slower
        bench.create_table(setup, warm)
        bench.raw_put_item(setup, warm, items, 8, bench.Meter({}))
        schema = table_keys.describe_key_schema(setup.describe_table(TableName=source))
        bucket = "xr-" + tag
        setup_s3.create_bucket(Bucket=bucket)
        counts = sorted(set(options.chunk_workers) | {settings.chunk_workers})
        variants = [(policy, placement, chunks) for policy in ("retain", "mirror") for chunks in counts
                    for placement in ("same_region", "cross_region")]
        runs = []
        for repeat in range(options.repeat):
            one = {}
            for number, (policy, placement, chunks) in enumerate(variants):
                name = "%s-%s-%d" % (policy, placement, chunks)
                prefix = "r%d-%d/" % (repeat, number)
                put_manifests(setup_s3, bucket, prefix, n)
                backup = "xr-%s-r%d-%d" % (tag, repeat, number)
                bench.create_table(setup, backup)
                region = FAR if placement == "cross_region" else NEAR
                one[name] = bench.apply_changes(client, s3, counter, source, arn(region, backup), schema, bucket, prefix,
                                                policy, item_writer.DEFAULT_WORKERS, chunks, meter)
                held = setup.scan(TableName=backup, Select="COUNT", ConsistentRead=True)["Count"]
                if held != n:
                    raise SystemExit("%s: the backup holds %d items of %d" % (name, held, n))
            runs.append(one)
        names = list(runs[0])
        out["items_per_second"] = dict((name, bench.median([run[name]["items_per_second"] for run in runs])) for name in names)
        out["items_per_second_all"] = dict((name, [run[name]["items_per_second"] for run in runs]) for name in names)
        out["cores"] = dict((name, dict((process, bench.median([run[name]["cpu"]["cores"][process] for run in runs]))
                                        for process in runs[0][name]["cpu"]["cores"])) for name in names)
        out["requests_per_item"] = dict((name, runs[0][name]["requests_per_item"]) for name in names)
        base = settings.chunk_workers

        def ratio(a, b):
            return round(bench.median([run[a]["items_per_second"] / run[b]["items_per_second"] for run in runs]), 2)

        ratios = {}
        for policy in ("retain", "mirror"):
            for chunks in counts:
                ratios["%s_%d_cross_vs_same" % (policy, chunks)] = ratio("%s-cross_region-%d" % (policy, chunks),
                                                                         "%s-same_region-%d" % (policy, chunks))
            for chunks in counts:
                for placement in ("same_region", "cross_region"):
                    if (placement, chunks) != ("same_region", base):
                        ratios["%s_%s_%d_vs_same_region_%d" % (policy, placement, chunks, base)] = ratio(
                            "%s-%s-%d" % (policy, placement, chunks), "%s-same_region-%d" % (policy, base))
        out["ratios"] = ratios
        out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        out["environment"] = bench.environment(dynamodb="DynamoDB Local (in-memory, JVM)", s3="s3rver",
                                               via="bench_proxy.py, delay by signing region")
        print(json.dumps(out, indent=2))
    finally:
        if proxy is not None:
            proxy.stdin.close()
            proxy.wait(timeout=30)
        bench.stop_servers(helper, local)


if __name__ == "__main__":
    main()
