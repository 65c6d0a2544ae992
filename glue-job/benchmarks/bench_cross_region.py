"""The jobs with the backup in another region: each one's throughput when the backup's requests take a
cross-region round trip and everything else a same-region one, beside all at the same-region one, in one
run (run by hand; prints JSON): apply-changes, full-copy, verify and restore.

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench_cross_region.py [--items 2000] [--repeat 3]
        [--near-ms 2] [--far-ms 70] [--chunk-workers 1,8,16] [--jobs apply-changes,full-copy,verify,restore]

The backup is named by ARN (`--backup_table arn:aws:dynamodb:<region>:<account>:table/<name>`), so the
jobs' DynamoDB client signs its requests for the ARN's region (aws_clients.RegionalDynamoDB). Every
DynamoDB and S3 request goes through one bench_proxy.py process, which delays a request by the region it
is signed for: `--far-ms` for eu-west-1, `--near-ms` for the rest (us-east-1: the source, the bucket,
restore's target). `same_region`: the backup's ARN names us-east-1, so all of it waits near-ms;
`cross_region`: it names eu-west-1. Default 70 ms: a typical us-east-1 <-> eu-west-1 round trip; 2 ms:
within a region.

DynamoDB is AWS's DynamoDB Local (it takes a table ARN as TableName and ignores its account and region;
dynalite refuses ARNs), S3 is s3rver: servers as bench.py (AWS_ENDPOINT_URL_S3 when set, else
local_servers.js; DynamoDB Local always started here). One source table of `--items` items. In each
repeat, interleaved, every job of `--jobs` (all four by default) runs same_region then cross_region, each
run on fresh tables:
- apply-changes: on fresh backup tables and manifests of 100 keys: retain and mirror, same_region and
  cross_region, each with every `--chunk-workers` count of chunks synced at once, drained by apply.run in
  this process with the job's other settings (ApplySettings(), the writer's threads). The job syncs
  ApplySettings().chunk_workers (8) chunks at once in a process or a Spark task; 1 shows what one chunk's
  round trips cost; more stands for more Spark tasks, each syncing its own chunks (the Python shell job
  has no setting for it).
- full-copy, verify, restore: the job's entry point (backup_replication.jobs.<job>.main, as the job's
  script calls it) with the arguments it requires and `--region us-east-1` alone, so with the job's
  defaults for the rest (delete policy retain, verified writes, no rate limit, scan segments derived
  from the cluster; restore: missing-only into an existing table), on a stand-in SparkContext of one
  executor core (OneCore): the 4 segments derived for it run in this process one after another, as one
  executor core runs its tasks; more cores run more segments at once, each waiting on the same round
  trips. full-copy copies the source into an empty backup; verify compares the source with a backup
  holding the same items; restore copies such a backup into an empty table named after it
  (`<backup>-restore-t`), always in us-east-1: a target is in the job's region. The whole main() is
  timed (its DescribeTable calls and its report in S3 too), the tables' setup is not.
Every run is checked (the backup or the target holds every source item as it is, verify found no drift,
restore wrote every item); the first that fails ends the benchmark with the reason (exit status 1).

`items_per_second`: the source's items over the run's seconds (verify reads each item from both tables).
`requests_per_item`: the job's own DynamoDB request counters, of the first repeat; `signed_requests_per_item`:
every DynamoDB request the run sent, by the region it was signed for (botocore's before-sign event): the
far column is what a cross_region run waits on. Each figure is the median over the repeats; ratios are
medians of the per-repeat ratios (neighbours in time): for apply-changes, cross_region vs same_region at
each count, and at each count vs same_region at the job's; for each other job, cross_region vs
same_region (`<job>_cross_vs_same`). `cores` tell what bound a measurement: the client (this process),
DynamoDB Local (a JVM) and the proxy share the machine's cores.
"""

import argparse
import contextlib
import io
import json
import os
import threading
import time
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple

import boto3

import bench  # beside this script
from backup_replication import (apply, aws_clients, ddb_batch, item_writer, manifest_format, spark_segments,
                                table_keys)
from backup_replication.jobs import full_copy, restore, verify

NEAR, FAR = "us-east-1", "eu-west-1"
ACCOUNT = "222222222222"
JOBS = ("apply-changes", "full-copy", "verify", "restore")
PLACEMENTS = ("same_region", "cross_region")
# A job run's outcome: (what its main returned, the measurement bench.rate makes plus cpu and signed requests).
Run = Tuple[Dict[str, Any], Dict[str, Any]]


def arn(region, name):
    return "arn:aws:dynamodb:%s:%s:table/%s" % (region, ACCOUNT, name)


def put_manifests(s3, bucket, prefix, count):
    for start in range(0, count, 100):
        name, body = manifest_format.build_manifest([{"id": {"S": "bench#%07d" % i}}
                                                     for i in range(start, min(count, start + 100))])
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)


def job_list(text: str) -> List[str]:
    """`--jobs`: some of JOBS, comma-separated; run in JOBS' order whatever the order given."""
    names = set(name.strip() for name in text.split(",") if name.strip())
    if not names or names - set(JOBS):
        raise argparse.ArgumentTypeError("a comma-separated subset of %s, got %r" % (",".join(JOBS), text))
    return [job for job in JOBS if job in names]


class _Partitions(object):
    """OneCore's RDD: mapPartitions then collect, each partition in turn."""

    def __init__(self, partitions: List[List[Any]],
                 function: Optional[Callable[[Iterator[Any]], Iterable[Any]]] = None) -> None:
        self.partitions = partitions
        self.function = function

    def mapPartitions(self, function: Callable[[Iterator[Any]], Iterable[Any]]) -> "_Partitions":  # noqa: N802
        return _Partitions(self.partitions, function)

    def collect(self) -> List[Any]:
        function = self.function or list
        return [value for partition in self.partitions for value in function(iter(partition))]


class OneCore(object):
    """What spark_segments uses of a SparkContext (SparkContextLike), for a cluster of one executor core:
    its partitions run in this process, one after another, as the core would run its tasks."""

    defaultParallelism = 1

    def getConf(self) -> Dict[str, str]:  # noqa: N802 - pyspark's naming
        return {"spark.executor.instances": "1", "spark.executor.cores": "1"}

    def parallelize(self, data: Iterable[Any], numSlices: Optional[int] = None) -> _Partitions:  # noqa: N803
        values = list(data)
        slices = max(1, numSlices or self.defaultParallelism)
        # Spark's ParallelCollectionRDD split: partition i gets values[i*n//k:(i+1)*n//k].
        n = len(values)
        return _Partitions([values[i * n // slices:(i + 1) * n // slices] for i in range(slices)])

    def setJobGroup(self, groupId: str, description: str, interruptOnCancel: bool = False) -> None:  # noqa: N802,N803
        pass

    def cancelJobGroup(self, groupId: str) -> None:  # noqa: N802,N803
        pass


class SignedCounter(object):
    """Counts the DynamoDB requests signed for each region (botocore's before-sign event) by every client
    made after it: it registers on boto3's default session, whose handlers each new client copies, since
    the jobs make their clients themselves."""

    def __init__(self) -> None:
        self.counts: Dict[str, int] = {}
        self.lock = threading.Lock()
        if boto3.DEFAULT_SESSION is None:
            boto3.setup_default_session()
        session: Any = boto3.DEFAULT_SESSION
        session.events.register("before-sign.dynamodb", self)

    def __call__(self, region_name: Optional[str] = None, **_: Any) -> None:
        with self.lock:
            self.counts[str(region_name)] = self.counts.get(str(region_name), 0) + 1

    def take(self) -> Dict[str, int]:
        with self.lock:
            counts, self.counts = self.counts, {}
        return counts


def scan_all(client: Any, table: str) -> Dict[str, Dict[str, Any]]:
    """{id: item} of a whole table, read consistently."""
    held: Dict[str, Dict[str, Any]] = {}
    kwargs: Dict[str, Any] = {"TableName": table, "ConsistentRead": True}
    while True:
        page = client.scan(**kwargs)
        held.update((item["id"]["S"], item) for item in page["Items"])
        if not page.get("LastEvaluatedKey"):
            return held
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def per_item(counts: Mapping[str, int], n: int) -> Dict[str, float]:
    return dict((region, round(count / float(n), 4)) for region, count in sorted(counts.items()))


class Bench(object):
    """What every run of full-copy, verify and restore shares."""

    def __init__(self, setup: Any, source: str, items: Sequence[Dict[str, Any]], bucket: str, meter: Any,
                 signed: SignedCounter) -> None:
        self.setup = setup  # DynamoDB straight to DynamoDB Local, no delay: the tables' setup and checks
        self.source = source
        self.items = items
        self.bucket = bucket
        self.meter = meter
        self.signed = signed
        self.expected = scan_all(setup, source)  # as DynamoDB holds them (numbers in its form)

    def create_filled(self, table: str) -> None:
        bench.create_table(self.setup, table)
        bench.raw_batch_write(self.setup, table, list(self.items), 4, bench.Meter({}))

    def check_holds(self, table: str, what: str) -> None:
        """Exits unless `table` holds exactly the source's items, each as it is in the source."""
        held = scan_all(self.setup, table)
        wrong = [key for key, item in self.expected.items() if not table_keys.items_equal(held.get(key), item)]
        if wrong or len(held) != len(self.expected):
            raise SystemExit("%s: %s holds %d items; %d of the source's %d are missing or differ, e.g. %s"
                             % (what, table, len(held), len(wrong), len(self.expected), wrong[:1]))

    def run(self, entry: Callable[..., Dict[str, Any]], argv: List[str],
            counters: Callable[[Dict[str, Any]], Mapping[str, Any]]) -> Run:
        """main(argv) of a job, as its script runs it but on OneCore, its log lines (stdout) kept out of the
        JSON this prints; `counters`: where its returned summary keeps the job's Stats."""
        log, errors = io.StringIO(), io.StringIO()
        self.signed.take()
        before = self.meter.snapshot()
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(errors):
                value = entry(argv, spark_context=OneCore())
        except SystemExit as stop:
            raise SystemExit("%s exited with status %s: %s" % (argv[0], stop.code, errors.getvalue().strip()))
        seconds, cpu = self.meter.since(before)
        signed = self.signed.take()
        n = len(self.items)
        out = bench.rate(n, seconds, ddb_batch.Stats().add(counters(value)))
        out["signed_requests_per_item"] = per_item(signed, n)
        out["cpu"] = cpu
        return value, out


def run_full_copy(b: Bench, backup: str, region: str) -> Dict[str, Any]:
    bench.create_table(b.setup, backup)
    summary, out = b.run(full_copy.main, ["full_copy.py", "--source_table", b.source, "--backup_table",
                                          arn(region, backup), "--region", NEAR], lambda value: value["copy"])
    b.check_holds(backup, "full-copy")
    out["segments"] = summary["segments"]
    return out


def run_verify(b: Bench, backup: str, region: str) -> Dict[str, Any]:
    b.create_filled(backup)
    report, out = b.run(verify.main, ["verify.py", "--source_table", b.source, "--backup_table", arn(region, backup),
                                      "--region", NEAR, "--report_bucket", b.bucket, "--report_prefix", backup + "/"],
                        lambda report: report["requests"])
    if report["drift"] or report["counts"]["match"] != len(b.items):
        raise SystemExit("verify: %d drift, %d of %d items matched: %s"
                         % (report["drift"], report["counts"]["match"], len(b.items), json.dumps(report["counts"])))
    out["segments"] = report["segments"]["total"]
    return out


def run_restore(b: Bench, backup: str, region: str) -> Dict[str, Any]:
    b.create_filled(backup)
    target = backup + "-restore-t"
    bench.create_table(b.setup, target)
    report, out = b.run(restore.main, ["restore.py", "--backup_table", arn(region, backup), "--target_table", target,
                                       "--region", NEAR, "--report_bucket", b.bucket, "--report_prefix", backup + "/"],
                        lambda report: report["requests"])
    if report["counts"]["written"] != len(b.items):
        raise SystemExit("restore: wrote %d of %d items: %s"
                         % (report["counts"]["written"], len(b.items), json.dumps(report["counts"])))
    b.check_holds(target, "restore")
    out["segments"] = report["segments"]
    return out


RUNS = {"full-copy": run_full_copy, "verify": run_verify, "restore": run_restore}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=2000,
                        help="the source's items; apply-changes: changed keys (chunks of 100)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--near-ms", type=float, default=2.0, help="round trip within the region")
    parser.add_argument("--far-ms", type=float, default=70.0, help="round trip to the backup's region")
    parser.add_argument("--chunk-workers", type=bench.numbers, default=[1, 8, 16], help="apply-changes only")
    parser.add_argument("--jobs", type=job_list, default=list(JOBS), help="some of " + ",".join(JOBS))
    options = parser.parse_args()
    os.environ.pop("AWS_ENDPOINT_URL_DYNAMODB", None)  # only S3 may be the caller's: DynamoDB is DynamoDB Local
    helper = bench.ensure_servers() if not os.environ.get("AWS_ENDPOINT_URL_S3") else None
    local, proxy = None, None
    settings = apply.ApplySettings()
    out = {"items": options.items, "repeats": options.repeat, "near_ms": options.near_ms, "far_ms": options.far_ms,
           "jobs": options.jobs, "chunk_workers": settings.chunk_workers, "write_workers": item_writer.DEFAULT_WORKERS,
           "scan_segments": spark_segments.derive_total_segments(OneCore()),
           "load_average_at_start": [round(v, 2) for v in os.getloadavg()]}
    try:
        local, ddb_endpoint, _ = bench.start_dynamodb_local()
        s3_endpoint = os.environ["AWS_ENDPOINT_URL_S3"]
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = ddb_endpoint
        setup, setup_s3 = aws_clients.dynamodb_client(NEAR), aws_clients.s3_client()
        proxy, mapping = bench.start_proxy(options.near_ms, [ddb_endpoint, s3_endpoint], {FAR: options.far_ms})
        os.environ["AWS_ENDPOINT_URL_DYNAMODB"] = mapping[ddb_endpoint]
        os.environ["AWS_ENDPOINT_URL_S3"] = mapping[s3_endpoint]
        signed = SignedCounter()  # before the clients it counts are made
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
        schema = table_keys.describe_key_schema(setup.describe_table(TableName=source))
        warm = "xr-warm-" + tag  # a fresh JVM answers its first thousands of requests slower
        bench.create_table(setup, warm)
        bench.raw_put_item(setup, warm, items, 8, bench.Meter({}))
        for _ in range(3):  # and its first scans and batch reads (full-copy, verify, restore)
            scan_all(setup, warm)
            ddb_batch.batch_get(setup, warm, [{"id": item["id"]} for item in items], schema, ddb_batch.Stats(),
                                ddb_batch.RetryPolicy())
        bucket = "xr-" + tag
        setup_s3.create_bucket(Bucket=bucket)
        shared = Bench(setup, source, items, bucket, meter, signed)
        counts = sorted(set(options.chunk_workers) | {settings.chunk_workers})
        variants = [(policy, placement, chunks) for policy in ("retain", "mirror") for chunks in counts
                    for placement in PLACEMENTS] if "apply-changes" in options.jobs else []
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
                signed.take()
                one[name] = bench.apply_changes(client, s3, counter, source, arn(region, backup), schema, bucket, prefix,
                                                policy, item_writer.DEFAULT_WORKERS, chunks, meter)
                one[name]["signed_requests_per_item"] = per_item(signed.take(), n)
                held = setup.scan(TableName=backup, Select="COUNT", ConsistentRead=True)["Count"]
                if held != n:
                    raise SystemExit("%s: the backup holds %d items of %d" % (name, held, n))
            for job in [job for job in options.jobs if job in RUNS]:
                for placement in PLACEMENTS:
                    backup = "xr-%s-r%d-%s-%s" % (tag, repeat, job, placement.split("_")[0])
                    region = FAR if placement == "cross_region" else NEAR
                    one["%s-%s" % (job, placement)] = RUNS[job](shared, backup, region)
            runs.append(one)
        names = list(runs[0])
        out["items_per_second"] = dict((name, bench.median([run[name]["items_per_second"] for run in runs])) for name in names)
        out["items_per_second_all"] = dict((name, [run[name]["items_per_second"] for run in runs]) for name in names)
        out["cores"] = dict((name, dict((process, bench.median([run[name]["cpu"]["cores"][process] for run in runs]))
                                        for process in runs[0][name]["cpu"]["cores"])) for name in names)
        out["requests_per_item"] = dict((name, runs[0][name]["requests_per_item"]) for name in names)
        out["signed_requests_per_item"] = dict((name, runs[0][name]["signed_requests_per_item"]) for name in names)
        base = settings.chunk_workers

        def ratio(a, b):
            return round(bench.median([run[a]["items_per_second"] / run[b]["items_per_second"] for run in runs]), 2)

        ratios = {}
        for policy in ("retain", "mirror") if variants else ():
            for chunks in counts:
                ratios["%s_%d_cross_vs_same" % (policy, chunks)] = ratio("%s-cross_region-%d" % (policy, chunks),
                                                                         "%s-same_region-%d" % (policy, chunks))
            for chunks in counts:
                for placement in PLACEMENTS:
                    if (placement, chunks) != ("same_region", base):
                        ratios["%s_%s_%d_vs_same_region_%d" % (policy, placement, chunks, base)] = ratio(
                            "%s-%s-%d" % (policy, placement, chunks), "%s-same_region-%d" % (policy, base))
        for job in options.jobs:
            if job != "apply-changes":
                ratios["%s_cross_vs_same" % job.replace("-", "_")] = ratio(job + "-cross_region", job + "-same_region")
        out["ratios"] = ratios
        out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        out["environment"] = bench.environment(dynamodb="DynamoDB Local (in-memory, JVM)", s3="s3rver",
                                               via="bench_proxy.py, delay by signing region")
        print(json.dumps(out, indent=2))
    finally:
        if proxy is not None and proxy.stdin is not None:
            proxy.stdin.close()
            proxy.wait(timeout=30)
        bench.stop_servers(helper, local)


if __name__ == "__main__":
    main()
