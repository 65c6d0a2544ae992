"""Capacity of apply-changes: items per CPU-second, and scaling over Spark worker processes (prints JSON).

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench_capacity.py [--items 5000] [--repeat 3]
        [--backlog 20000] [--processes 1,2,4] [--scaling-on dynalite:0,local:0,local:20]
        [--max-other-cores 0.3] [--attempts 2] [--quiet-wait 30]

`npm run bench:apply` (scripts/bench-apply.ts) runs it and adds the sustained load through the whole
pipeline. Servers as bench.py: dynalite and s3rver (glue-job/local_servers.js, one Node.js process) unless
AWS_ENDPOINT_URL_* are set; `local` in --scaling-on starts AWS's DynamoDB Local (a JVM) for the DynamoDB
side. In one run:

1. `cpu`: the CPU cost of an item, on dynalite with no delay. `--items` items (bench.item: six attributes,
   about 150 bytes) written by the raw writers, then as changed keys (manifests of 100 keys, as the
   Lambda writes for its default batch of 100 records) drained by apply.run in this process with the
   job's own settings (ApplySettings() and a verifying Replicator, as jobs/apply_changes.py builds them),
   under retain and under mirror, each into a fresh backup table. The raw writers: BatchWriteItem of 25
   (4 streams; what mirror writes) and unconditional PutItem (32 threads; what retain writes, one per
   item). `--repeat` rounds, interleaved; each figure is the median of the rounds. The client's CPU
   (this process, getrusage) and the servers' (their processes, /proc) are counted apart: items per
   client CPU-second is what a vCPU of a Glue worker buys, whatever the server; `ratios` compare the
   apply path with the raw writers on that measure.

2. `scaling`: a backlog of `--backlog` changed keys (manifests of 100) drained under retain by apply.run
   with spark_apply.SparkSpread over local_spark.ProcessSparkContext(P), P from `--processes`, on each
   server of `--scaling-on` (backend:delay in ms; a delay puts every DynamoDB and S3 request through
   bench_proxy.py, a process of its own). The spread is built as jobs/apply_changes.py builds it
   (max_tasks from the context: one task per worker process; keys_per_task 1000; the job's chunk and
   thread counts). Each P gets the same manifests and a fresh backup table, and its workers are warmed
   first (a small spread pass: imports and clients), so start-up is not measured. Reported per P:
   items/s, the ratio to P = 1, CPU seconds and cores of the driver (this process), the workers, the
   servers and the proxy (from /proc), items per client CPU-second (driver and workers), and the
   machine's other work during the measurement: its busy time (/proc/stat) less all of ours. Before each
   measurement it waits, up to `--quiet-wait` seconds, for the machine's other work to drop under
   `--max-other-cores`, and records the 1-minute load average; a measurement during which other work
   took more than that is repeated (`--attempts` in all) and the least disturbed one kept. `bound` says
   what limited each measurement, from those shares.
   The driver's part of a pass (`driver`): the pass's seconds outside SparkSpread.sync (listing,
   reading and folding the manifests, then deleting them), and the listing and the reading alone: the
   work a Glue Spark job's driver does between two spreads, which no executor shares.

Numbers on local servers measure this machine's CPU (2 cores, shared) plus any simulated delay, not
DynamoDB's; docs/capacity.md derives Glue configurations from them.
"""

import argparse
import json
import os
import statistics
import time


import bench  # beside this script
import bench_profile  # beside this script
import local_spark
from backup_replication import (apply, aws_clients, ddb_batch, item_writer, manifest_format, manifest_store, replicate,
                                spark_apply, table_keys)
from backup_replication.transform import Transform

KEYS_PER_MANIFEST = 100
CLIENT = "client (this process)"


def median(values):
    return round(statistics.median(values), 2)


def machine_busy():
    """Busy CPU seconds of the whole machine so far (all cores; steal counts: the hypervisor's other guests)."""
    with open("/proc/stat") as stat:
        fields = [int(value) for value in stat.readline().split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / float(bench.CLOCK_TICKS)


def other_cores(seconds=2.0, ours=None):
    """Cores the machine's other work used over the next `seconds` (`ours`: a Meter whose processes are
    subtracted)."""
    busy, mine = machine_busy(), ours.snapshot() if ours is not None else None
    time.sleep(seconds)
    used = machine_busy() - busy
    if mine is not None:
        used -= sum(ours.since(mine)[1]["seconds"].values())
    return max(0.0, used / seconds)


def wait_until_quiet(options, meter):
    """Waits up to --quiet-wait seconds for the other work to drop under --max-other-cores; returns
    (other cores measured last, seconds waited, 1-minute load average then)."""
    started = time.monotonic()
    while True:
        other = other_cores(2.0, meter)
        waited = time.monotonic() - started
        if other <= options.max_other_cores or waited >= options.quiet_wait:
            return round(other, 2), round(waited, 1), round(os.getloadavg()[0], 2)


def put_manifests(s3, bucket, prefix, first, count):
    """Manifests of KEYS_PER_MANIFEST keys for bench.item ids first..first+count-1."""
    for start in range(first, first + count, KEYS_PER_MANIFEST):
        name, body = manifest_format.build_manifest([{"id": {"S": "bench#%07d" % i}}
                                                     for i in range(start, min(first + count, start + KEYS_PER_MANIFEST))])
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def replicator(client, source, backup, schema, policy, stats=None):
    """As jobs/apply_changes.py builds it (verification on; the writer's default threads)."""
    return replicate.Replicator(client, source, backup, schema, Transform(), policy, stats or ddb_batch.Stats(),
                                ddb_batch.RetryPolicy(), verify=True)


def per_cpu(count, cpu, names):
    seconds = sum(cpu["seconds"][name] for name in names)
    return round(count / seconds, 1) if seconds > 0 else None


# ---------------------------------------------------------------------------------------------------
# 1. CPU per item


def apply_in_process(client, s3, source, backup, schema, bucket, prefix, policy, meter):
    before = meter.snapshot()
    result = apply.run(manifest_store.ManifestStore(s3, bucket, prefix), replicator(client, source, backup, schema, policy),
                       apply.ApplySettings(), schema, log=lambda *_args, **_fields: None)
    seconds, cpu = meter.since(before)
    if result.keys != result.manifests_applied * KEYS_PER_MANIFEST:
        raise SystemExit("apply-changes applied %d keys of %d manifests" % (result.keys, result.manifests_applied))
    out = bench.rate(result.keys, seconds)
    out["cpu"] = cpu
    return out


def cpu_cost(options, servers, setup_ddb, setup_s3, tag):
    client, s3 = aws_clients.dynamodb_client(), aws_clients.s3_client()
    meter = bench.Meter(servers)
    n = options.items
    items = [bench.item(i, 0) for i in range(n)]
    bucket = "cap-cpu-" + tag
    setup_s3.create_bucket(Bucket=bucket)
    rounds = []
    schema = None
    # As many threads as apply-changes sends its conditional PutItems from (chunks at once x writer threads).
    put_threads = apply.ApplySettings().chunk_workers * item_writer.DEFAULT_WORKERS
    for number in range(options.repeat):
        one = {}
        source = "cap-src-%s-r%d" % (tag, number)
        bench.create_table(setup_ddb, source)
        schema = schema or table_keys.describe_key_schema(setup_ddb.describe_table(TableName=source))
        one["raw_batch_write"] = bench.raw_batch_write(client, source, items, 4, meter)  # fills the source
        table = "cap-put-%s-r%d" % (tag, number)
        bench.create_table(setup_ddb, table)
        one["raw_put_item"] = bench.raw_put_item(client, table, items, put_threads, meter)
        for policy in ("retain", "mirror"):
            prefix = "%s-r%d/" % (policy, number)
            put_manifests(setup_s3, bucket, prefix, 0, n)
            backup = "cap-%s-%s-r%d" % (policy, tag, number)
            bench.create_table(setup_ddb, backup)
            one["apply_" + policy] = apply_in_process(client, s3, source, backup, schema, bucket, prefix, policy, meter)
        rounds.append(one)
    out = {"items": n, "rounds": options.repeat, "servers": sorted(servers),
           "raw_put_item_threads": put_threads, "raw_batch_write_streams": 4}
    for name in ("raw_batch_write", "raw_put_item", "apply_retain", "apply_mirror"):
        runs = [one[name] for one in rounds]
        server_seconds = [sum(v for k, v in run["cpu"]["seconds"].items() if k != CLIENT) for run in runs]
        out[name] = {
            "items_per_client_cpu_second": median([n / run["cpu"]["seconds"][CLIENT] for run in runs]),
            "items_per_client_cpu_second_all": [round(n / run["cpu"]["seconds"][CLIENT], 1) for run in runs],
            "client_cpu_ms_per_item": median([run["cpu"]["seconds"][CLIENT] * 1000.0 / n for run in runs]),
            "server_cpu_ms_per_item": median([seconds * 1000.0 / n for seconds in server_seconds]),
            "items_per_second": median([run["items_per_second"] for run in runs]),
            "client_cores": median([run["cpu"]["cores"][CLIENT] for run in runs]),
            "server_cores": median([seconds / run["seconds"] for seconds, run in zip(server_seconds, runs)]),
        }
    rate = dict((name, out[name]["items_per_client_cpu_second"]) for name in ("raw_batch_write", "raw_put_item",
                                                                              "apply_retain", "apply_mirror"))
    out["ratios_per_client_cpu_second"] = {
        "apply_retain_vs_raw_put_item": round(rate["apply_retain"] / rate["raw_put_item"], 2),
        "apply_mirror_vs_raw_batch_write": round(rate["apply_mirror"] / rate["raw_batch_write"], 2),
        "apply_retain_vs_raw_batch_write": round(rate["apply_retain"] / rate["raw_batch_write"], 2),
        "apply_mirror_vs_apply_retain": round(rate["apply_mirror"] / rate["apply_retain"], 2),
    }
    return out


# ---------------------------------------------------------------------------------------------------
# 2. Scaling over worker processes


class TimedSpread(object):
    """apply.PassSpread that times each SparkSpread.sync (what the driver waits on the executors for)."""

    def __init__(self, spread):
        self.spread = spread
        self.seconds = []

    def sync(self, keys, removals, seconds_left):
        started = time.monotonic()
        try:
            return self.spread.sync(keys, removals, seconds_left)
        finally:
            self.seconds.append(time.monotonic() - started)


def spread_of(sc, client, source, backup, schema, keys_per_task=spark_apply.DEFAULT_KEYS_PER_TASK):
    """As jobs/apply_changes.py's _spread builds it (the workers' clients from the environment)."""
    settings = apply.ApplySettings()
    writer = spark_apply.WriterSpec.of(replicator(client, source, backup, schema, "retain"), None)
    return spark_apply.SparkSpread(sc, writer, spark_apply.max_tasks(sc), keys_per_task, settings.keys_per_chunk,
                                   settings.chunk_workers)


def warm(sc, processes, client, s3, setup_ddb, setup_s3, source, schema, bucket, tag):
    """A small pass with one task per worker: each imports the package and boto3 and builds its clients."""
    backup = "cap-warm-%s" % tag
    bench.create_table(setup_ddb, backup)
    prefix = "warm-%s/" % tag
    put_manifests(setup_s3, bucket, prefix, 0, KEYS_PER_MANIFEST * processes)
    apply.run(manifest_store.ManifestStore(s3, bucket, prefix), replicator(client, source, backup, schema, "retain"),
              apply.ApplySettings(), schema, log=lambda *_args, **_fields: None,
              spread=spread_of(sc, client, source, backup, schema, keys_per_task=KEYS_PER_MANIFEST))


def bound_of(row, cpus):
    """What limited a measurement, read from the CPU shares."""
    cores = row["cores"]
    total = sum(cores.values())
    single = [(name, value) for name, value in row["cores_by_process"].items() if name.startswith("node") and value >= 0.9]
    if single:
        return "%s: one Node.js event loop, %.2f cores (one at most)" % single[0]
    if total >= 0.9 * cpus:
        return ("the machine's %d cores: %.2f busy (workers %.2f, driver %.2f, servers %.2f, proxy %.2f, other work %.2f)"
                % (cpus, total, cores["workers"], cores["driver"], cores["servers"], cores["proxy"], cores["other work"]))
    if cores["workers"] >= 0.85 * row["processes"]:
        return "the workers' CPU: %.2f cores for %d processes" % (cores["workers"], row["processes"])
    return "waiting (round trips, or tasks ending unevenly): %.2f of %d cores busy" % (total, cpus)


def measure_processes(options, processes, ctx):
    """One drain of the backlog by `processes` worker processes; see the module docstring."""
    client, s3, setup_ddb, setup_s3 = ctx["client"], ctx["s3"], ctx["setup_ddb"], ctx["setup_s3"]
    tag = "%s-p%d-a%d" % (ctx["tag"], processes, ctx["attempt"])
    with local_spark.ProcessSparkContext(processes) as sc:
        warm(sc, processes, client, s3, setup_ddb, setup_s3, ctx["source"], ctx["schema"], ctx["bucket"], tag)
        backup = "cap-scale-%s" % tag
        bench.create_table(setup_ddb, backup)
        prefix = "scale-%s/" % tag
        put_manifests(setup_s3, ctx["bucket"], prefix, 0, options.backlog)
        pids = dict(ctx["servers"])
        pids.update(("worker %d" % number, pid) for number, pid in enumerate(sc.worker_pids()))
        meter = bench.Meter(pids)
        other_before, waited, load = wait_until_quiet(options, meter)
        passes = []
        spread = TimedSpread(spread_of(sc, client, ctx["source"], backup, ctx["schema"]))
        bench_profile.TOTALS.clear()

        def log(event, **fields):
            if event == "apply_pass":
                passes.append(fields)

        busy = machine_busy()
        before = meter.snapshot()
        result = apply.run(manifest_store.ManifestStore(s3, ctx["bucket"], prefix),
                           replicator(client, ctx["source"], backup, ctx["schema"], "retain"), apply.ApplySettings(),
                           ctx["schema"], log=log, spread=spread)
        seconds, cpu = meter.since(before)
        busy = machine_busy() - busy
        jobs = sc.jobs[-len(passes):]
    if result.keys != options.backlog:
        raise SystemExit("the spread applied %d keys of %d" % (result.keys, options.backlog))
    used = cpu["seconds"]
    groups = {
        "driver": used[CLIENT],
        "workers": sum(v for k, v in used.items() if k.startswith("worker")),
        "servers": sum(v for k, v in used.items() if k in ctx["servers"] and k != "proxy"),
        "proxy": used.get("proxy", 0.0),
    }
    groups["other work"] = max(0.0, busy - sum(used.values()))
    row = {
        "processes": processes, "items": result.keys, "seconds": round(seconds, 2),
        "items_per_second": round(result.keys / seconds, 1),
        "cpu_seconds": dict((k, round(v, 2)) for k, v in groups.items()),
        "cores": dict((k, round(v / seconds, 2)) for k, v in groups.items()),
        "cores_by_process": cpu["cores"],
        "items_per_client_cpu_second": round(result.keys / (groups["driver"] + groups["workers"]), 1),
        "items_per_worker_cpu_second": round(result.keys / groups["workers"], 1),
        "tasks": [job["tasks"] for job in jobs], "task_failures": sum(len(job["failures"]) for job in jobs),
        "before": {"other_cores": other_before, "waited_seconds": waited, "load_average_1m": load},
        "load_average_1m_after": round(os.getloadavg()[0], 2),
    }
    pass_seconds = sum(p["seconds"] for p in passes)
    step = dict((label, {"calls": calls, "seconds": round(wall, 3), "cpu_seconds": round(thread_cpu, 3)})
                for label, (calls, wall, thread_cpu) in bench_profile.TOTALS.items())
    row["driver"] = {
        "passes": len(passes), "manifests": result.manifests_applied,
        "pass_seconds": round(pass_seconds, 2), "spread_seconds": round(sum(spread.seconds), 2),
        "outside_spread_seconds": round(pass_seconds - sum(spread.seconds), 2),
        "outside_spread_ms_per_manifest": round((pass_seconds - sum(spread.seconds)) * 1000.0 / result.manifests_applied, 2),
        "steps": step,
    }
    row["bound"] = bound_of(row, os.cpu_count() or 1)
    return row


def scaling_on(options, backend, delay, endpoints, servers, setup_ddb, setup_s3, tag):
    """Every P of --processes on one server and delay (a proxy process for a delay above 0)."""
    proxy = None
    target = {"ddb": endpoints[backend], "s3": endpoints["s3"]}
    if delay > 0:
        proxy, mapping = bench.start_proxy(delay, [target["ddb"], target["s3"]])
        target = {"ddb": mapping[target["ddb"]], "s3": mapping[target["s3"]]}
    try:
        # The worker processes, spawned later, build their clients from the same variables.
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = target["ddb"]
        os.environ["AWS_ENDPOINT_URL_S3"] = target["s3"]
        pids = dict(servers)  # the idle one costs nothing
        if proxy is not None:
            pids["proxy"] = proxy.pid
        setup = aws_clients.dynamodb_client()
        source = "cap-ssrc-%s" % tag
        bench.create_table(setup, source)
        bench.raw_batch_write(setup, source, [bench.item(i, 0) for i in range(options.backlog)], 8, bench.Meter({}))
        bucket = "cap-scale-" + tag
        setup_s3.create_bucket(Bucket=bucket)
        ctx = {"client": aws_clients.dynamodb_client(), "s3": aws_clients.s3_client(), "setup_ddb": setup,
               "setup_s3": aws_clients.s3_client(), "servers": pids, "source": source, "bucket": bucket, "tag": tag,
               "schema": table_keys.describe_key_schema(setup.describe_table(TableName=source))}
        rows = []
        for processes in options.processes:
            tries = []
            for attempt in range(options.attempts):
                ctx["attempt"] = attempt
                tries.append(measure_processes(options, processes, ctx))
                if tries[-1]["cores"]["other work"] <= options.max_other_cores:
                    break
            best = min(tries, key=lambda row: row["cores"]["other work"])
            best["attempts"] = len(tries)
            best["items_per_second_all_attempts"] = [row["items_per_second"] for row in tries]
            rows.append(best)
        first = rows[0]["items_per_second"]
        return {"dynamodb": backend, "delay_ms": delay, "backlog": options.backlog, "by_processes": rows,
                "ratios": dict(("%d/%d" % (row["processes"], rows[0]["processes"]), round(row["items_per_second"] / first, 2))
                               for row in rows[1:])}
    finally:
        if proxy is not None:
            proxy.stdin.close()
            proxy.wait(timeout=30)


def scaling_configs(text):
    configs = []
    for part in text.split(","):
        backend, _, delay = part.strip().partition(":")
        if backend not in ("dynalite", "local"):
            raise argparse.ArgumentTypeError("%r: expected dynalite:<ms> or local:<ms>" % part)
        configs.append((backend, float(delay or 0)))
    return configs


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000, help="items of the CPU measurement")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of the CPU measurement")
    parser.add_argument("--backlog", type=int, default=20000, help="changed keys of the scaling measurement")
    parser.add_argument("--processes", type=bench.numbers, default=[1, 2, 4])
    parser.add_argument("--scaling-on", type=scaling_configs, default=scaling_configs("dynalite:0,local:0,local:20"),
                        help="backend:delay_ms, comma-separated ('' for none)")
    parser.add_argument("--max-other-cores", type=float, default=0.3)
    parser.add_argument("--attempts", type=int, default=2)
    parser.add_argument("--quiet-wait", type=float, default=30.0, help="seconds to wait for a quiet machine")
    parser.add_argument("--skip-cpu", action="store_true")
    options = parser.parse_args()
    bench_profile.wrap(manifest_store.ManifestStore, "list", "listing (ListObjectsV2)")
    bench_profile.wrap(apply, "_read_pass", "reading and folding the pass's manifests (GetObject, parse)")
    helper = bench.ensure_servers()
    local = None
    results = {"load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    try:
        endpoints = {"dynalite": os.environ["AWS_ENDPOINT_URL_DYNAMODB"], "s3": os.environ["AWS_ENDPOINT_URL_S3"]}
        servers = {}
        if helper is not None:
            servers["node (s3rver + dynalite)"] = helper.pid
        if any(backend == "local" for backend, _ in options.scaling_on):
            local, endpoints["local"], startup = bench.start_dynamodb_local()
            servers["java (DynamoDB Local)"] = local.pid
            results["dynamodb_local_startup_seconds"] = round(startup, 1)
        setup_s3 = aws_clients.s3_client()
        tag = str(int(time.time() * 1000))
        # Warm-up, not measured: a fresh node or JVM answers its first thousands of requests slower (JIT).
        for backend in sorted(set(["dynalite"] + [backend for backend, _ in options.scaling_on])):
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoints[backend]
            setup = aws_clients.dynamodb_client()
            warm_table = "cap-warmup-%s-%s" % (backend, tag)
            bench.create_table(setup, warm_table)
            warm_items = [bench.item(i, 0) for i in range(3000)]
            bench.raw_batch_write(setup, warm_table, warm_items, 4, bench.Meter({}))
            bench.raw_put_item(setup, warm_table, warm_items[:1500], 8, bench.Meter({}))
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoints["dynalite"]
        if not options.skip_cpu:
            cpu_servers = dict((name, pid) for name, pid in servers.items() if "dynalite" in name)
            results["cpu"] = cpu_cost(options, cpu_servers, aws_clients.dynamodb_client(), setup_s3, tag)
        results["scaling"] = []
        for number, (backend, delay) in enumerate(options.scaling_on):
            results["scaling"].append(scaling_on(options, backend, delay, endpoints, servers,
                                                 aws_clients.dynamodb_client(), setup_s3, "%s-s%d" % (tag, number)))
            os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = endpoints["dynalite"]
            os.environ["AWS_ENDPOINT_URL_S3"] = endpoints["s3"]
        results["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        results["environment"] = bench.environment(keys_per_manifest=KEYS_PER_MANIFEST)
        print(json.dumps(results, indent=2))
    finally:
        bench.stop_servers(helper, local)


if __name__ == "__main__":
    main()
