"""Client CPU per applied item: apply-changes under retain and mirror beside raw writers, with and without
each CPU cut, in one run (run by hand; prints JSON).

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench_item_cpu.py [--items 2000] [--repeat 3]
                              [--baseline REF] [--dynamodb dynalite|local] [--breakdown]

Servers as bench.py (dynalite and s3rver started with glue-job/local_servers.js unless AWS_ENDPOINT_URL_*
are set; `--dynamodb local`: AWS's DynamoDB Local for the DynamoDB side), no simulated delay: this measures
CPU, not waiting. Every measurement runs in a child process of its own (this script with --child), which
reports the time.process_time() its measured call took: the client's CPU alone (the servers are other
processes), the setup (tables, manifests, importing boto3) left out. Workloads, on the same N items:

- apply_retain: N changed keys the source holds, in manifests of 100 keys, drained by apply.run under
  "retain" (consistent BatchGetItem, one conditional PutItem per item, consistent BatchGetItem to verify);
- apply_retain_deletes: N deletions ("removed" entries carrying the items' last state; the source lacks
  the keys) under "retain": one conditional PutItem of the retained item per key;
- apply_mirror: the changed keys under "mirror" (BatchWriteItem of 25);
- raw_put_item: bare PutItem of the same items, from chunk_workers x write_workers threads (the most
  apply-changes runs at once); raw_batch_write: bare BatchWriteItem of 25 from chunk_workers streams.
  Each with a default boto3 client (its connection pool as large as its threads) and with the package's
  (aws_clients.dynamodb_client).

Variants of each apply workload: `cuts` (the code as it is); `no_parameter_validation_cut` and
`no_user_agent_cut` (the client with that Config setting back at botocore's default); `no_setting_cuts`
(both: what the code's own cuts give alone); with --baseline REF, `baseline` (glue-job/backup_replication
at that git ref, extracted to a temporary folder, with its own client settings). The repeats interleave
every measurement; each figure is the median of its repeats and each ratio the median of the per-repeat
ratios (neighbours in time, on a shared machine). Requests per item are reported to show that the
variants send the same requests. --breakdown adds, for the `cuts` variant, each request type's client CPU
per applied item by botocore layer (time.thread_time of the calling thread, summed over threads) and that
of the package's own steps; its wrappers cost CPU themselves, so it is measured apart from the rates.
"""

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
GLUE_JOB = os.path.dirname(HERE)
ROOT = os.path.dirname(GLUE_JOB)
MANIFEST_KEYS = 100
APPLY = ("apply_retain", "apply_retain_deletes", "apply_mirror")
OVERRIDES = {
    "cuts": {},
    "no_parameter_validation_cut": {"parameter_validation": True},
    "no_user_agent_cut": {"user_agent": None},
    "no_setting_cuts": {"parameter_validation": True, "user_agent": None},
}


def deleted_key(i):
    return {"id": {"S": "gone#%07d" % i}}


def deleted_image(bench, i):
    return dict(bench.item(i, 0), id=deleted_key(i)["id"])


# --- the child: one measurement ------------------------------------------------------------------------

def child(spec):
    import boto3
    from botocore.config import Config
    import bench  # beside this script
    from backup_replication import apply, aws_clients, ddb_batch, item_writer, manifest_store, replicate, table_keys
    from backup_replication.transform import Transform

    breakdown = _Breakdown() if spec.get("breakdown") else None
    endpoint = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    if spec["kind"] == "apply":
        client = aws_clients.dynamodb_client(**spec["overrides"]) if spec["overrides"] else aws_clients.dynamodb_client()
        s3 = aws_clients.s3_client()
        schema = table_keys.describe_key_schema(client.describe_table(TableName=spec["source"]))
        stats = ddb_batch.Stats()
        replicator = replicate.Replicator(client, spec["source"], spec["backup"], schema, Transform(), spec["policy"],
                                          stats, ddb_batch.RetryPolicy())
        store = manifest_store.ManifestStore(s3, spec["bucket"], spec["prefix"])
        settings = apply.ApplySettings()
        cpu = time.process_time()
        wall = time.monotonic()
        result = apply.run(store, replicator, settings, schema, log=lambda *a, **k: None)
        cpu, wall, count = time.process_time() - cpu, time.monotonic() - wall, result.keys
        requests = {"reads": stats.read_requests, "writes": stats.write_requests}
    else:
        # The default client's pool matches the threads (with botocore's 10 connections, 64 threads would
        # open a new connection for most requests, which is not what a PutItem costs).
        client = (boto3.client("dynamodb", endpoint_url=endpoint,
                               config=Config(max_pool_connections=max(10, spec["threads"])))
                  if spec["client"] == "default" else aws_clients.dynamodb_client())
        items = [bench.item(i, 0) for i in range(spec["items"])]
        meter = bench.Meter({})
        cpu = time.process_time()
        wall = time.monotonic()
        if spec["kind"] == "raw_put_item":
            bench.raw_put_item(client, spec["backup"], items, spec["threads"], meter)
            requests = {"writes": len(items)}
        else:
            bench.raw_batch_write(client, spec["backup"], items, spec["threads"], meter)
            requests = {"writes": -(-len(items) // 25)}
        cpu, wall, count = time.process_time() - cpu, time.monotonic() - wall, len(items)
    out = {"items": count, "cpu_seconds": round(cpu, 3), "wall_seconds": round(wall, 3),
           "items_per_cpu_second": round(count / cpu, 1),
           "requests_per_item": dict((k, round(v / float(count), 4)) for k, v in requests.items())}
    if breakdown is not None:
        out["breakdown_us_per_item"] = breakdown.report(count)
    if spec["kind"] == "apply":
        out["workers"] = {"chunk_workers": settings.chunk_workers, "write_workers": item_writer.DEFAULT_WORKERS}
    print(json.dumps(out))


class _Breakdown(object):
    """Thread CPU per request type and botocore layer, and of the package's own steps (wrappers set up
    before the clients are made; names that a botocore version lacks are skipped)."""

    LAYERS = (
        ("botocore.client", "BaseClient", "_emit_api_params", "params events"),
        ("botocore.client", "BaseClient", "_resolve_endpoint_ruleset", "endpoint rules"),
        ("botocore.validate", "ParamValidator", "validate", "validate"),
        ("botocore.serialize", "JSONSerializer", "serialize_to_request", "serialize"),
        ("botocore.serialize", "RestXMLSerializer", "serialize_to_request", "serialize"),
        ("botocore.signers", "RequestSigner", "sign", "sign"),
        ("botocore.endpoint", "Endpoint", "_send", "HTTP send+receive"),
        ("botocore.parsers", "ResponseParser", "parse", "parse"),
    )
    OWN = (
        ("backup_replication.table_keys", None, "key_id", "key_id"),
        ("backup_replication.table_keys", None, "items_equal", "items_equal"),
        ("backup_replication.transform", "Transform", "apply", "transform"),
        ("backup_replication.manifest_format", None, "parse_manifest_document", "manifest parsing"),
    )

    def __init__(self):
        import importlib
        self.local = threading.local()
        self.lock = threading.Lock()
        self.totals = collections.defaultdict(lambda: [0, 0.0])
        import botocore.client
        self._wrap(botocore.client.BaseClient, "_make_api_call", "total", operation=True)
        for module, owner, name, label in self.LAYERS + self.OWN:
            target = importlib.import_module(module)
            target = getattr(target, owner) if owner else target
            if hasattr(target, name):
                self._wrap(target, name, label, own=(module, owner, name, label) in self.OWN)

    def _wrap(self, owner, name, label, operation=False, own=False):
        original = getattr(owner, name)
        local, lock, totals = self.local, self.lock, self.totals

        def wrapper(*args, **kwargs):
            if operation:
                outer, local.operation = getattr(local, "operation", None), args[1]
            started = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                where = "package" if own else getattr(local, "operation", None) or "-"
                with lock:
                    entry = totals[(where, label)]
                    entry[0] += 1
                    entry[1] += spent
                if operation:
                    local.operation = outer
        setattr(owner, name, wrapper)

    def report(self, count):
        """{request type or "package": {"calls", "total", each layer, "other": the rest of total}} in
        microseconds per applied item."""
        order = ["total"] + [label for _, _, _, label in self.LAYERS + self.OWN]
        out = collections.OrderedDict()
        for (where, label), (calls, seconds) in sorted(self.totals.items(), key=lambda e: (e[0][0], order.index(e[0][1]))):
            row = out.setdefault(where, collections.OrderedDict())
            if label == "total":
                row["calls"] = calls
            row[label] = round(seconds / count * 1e6, 1)
        for row in out.values():
            if "total" in row:
                row["other"] = round(row["total"] - sum(v for k, v in row.items() if k not in ("total", "calls")), 1)
        return out


# --- the parent: data, children, figures ---------------------------------------------------------------

def run_child(spec, package_root):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([package_root, HERE]))
    output = subprocess.run([sys.executable, os.path.abspath(__file__), "--child", json.dumps(spec)], env=env,
                            stdout=subprocess.PIPE, check=True).stdout
    return json.loads(output.decode().strip().splitlines()[-1])


def extract_baseline(ref, into):
    archive = subprocess.run(["git", "-C", ROOT, "archive", ref, "glue-job/backup_replication"],
                             stdout=subprocess.PIPE, check=True).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    return os.path.join(into, "glue-job")


def median(values):
    return round(statistics.median(values), 2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--baseline", help="git ref whose glue-job/backup_replication is measured as `baseline`")
    parser.add_argument("--dynamodb", choices=("dynalite", "local"), default="dynalite")
    parser.add_argument("--breakdown", action="store_true", help="per request type and layer, `cuts` variant")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        return child(json.loads(options.child))

    import bench  # beside this script
    import boto3
    import botocore
    from backup_replication import apply, aws_clients, item_writer, manifest_format

    helper = bench.ensure_servers()
    local = None
    scratch = tempfile.mkdtemp(prefix="bench-item-cpu-")
    try:
        if options.dynamodb == "local":
            local, os.environ["AWS_ENDPOINT_URL_DYNAMODB"], _ = bench.start_dynamodb_local()
        packages = {"current": GLUE_JOB}
        variants = list(OVERRIDES)
        if options.baseline:
            packages["baseline"] = extract_baseline(options.baseline, scratch)
            variants.append("baseline")
        setup, setup_s3 = aws_clients.dynamodb_client(), aws_clients.s3_client()
        n = options.items
        tag = str(int(time.time() * 1000))
        source = "cpu-src-" + tag
        bench.create_table(setup, source)
        bench.raw_batch_write(setup, source, [bench.item(i, 0) for i in range(n)], 4, bench.Meter({}))
        bucket = "cpu-" + tag
        setup_s3.create_bucket(Bucket=bucket)
        warm = "cpu-warm-" + tag  # a fresh server answers its first thousands of requests slower
        bench.create_table(setup, warm)
        bench.raw_put_item(setup, warm, [bench.item(i, 0) for i in range(1000)], 8, bench.Meter({}))
        threads = apply.ApplySettings().chunk_workers * item_writer.DEFAULT_WORKERS
        streams = apply.ApplySettings().chunk_workers
        counter = [0]

        def fresh(prefix):
            counter[0] += 1
            return "cpu-%s-%d-%s" % (prefix, counter[0], tag)

        def manifests(workload, prefix):
            for start in range(0, n, MANIFEST_KEYS):
                numbers = range(start, min(n, start + MANIFEST_KEYS))
                if workload == "apply_retain_deletes":
                    removed = [(deleted_key(i), 10 ** 20 + i, deleted_image(bench, i), 1764620970) for i in numbers]
                    name, body = manifest_format.build_manifest([], removed=removed)
                else:
                    name, body = manifest_format.build_manifest([{"id": {"S": "bench#%07d" % i}} for i in numbers])
                setup_s3.put_object(Bucket=bucket, Key=prefix + name, Body=body)

        def apply_spec(workload, variant, breakdown=False):
            prefix = fresh("m") + "/"
            manifests(workload, prefix)
            backup = fresh("b")
            bench.create_table(setup, backup)
            return ({"kind": "apply", "policy": "mirror" if workload == "apply_mirror" else "retain",
                     "source": source, "backup": backup, "bucket": bucket, "prefix": prefix, "breakdown": breakdown,
                     "overrides": OVERRIDES.get(variant, {})},
                    packages["baseline" if variant == "baseline" else "current"])

        def raw_spec(kind, client):
            backup = fresh("r")
            bench.create_table(setup, backup)
            return ({"kind": kind, "client": client, "backup": backup, "items": n,
                     "threads": threads if kind == "raw_put_item" else streams}, GLUE_JOB)

        out = collections.OrderedDict([
            ("items", n), ("repeats", options.repeat), ("baseline", options.baseline),
            ("load_average_at_start", [round(v, 2) for v in os.getloadavg()])])
        runs = []
        for _ in range(options.repeat):
            one = collections.defaultdict(dict)
            for workload in APPLY:
                for variant in variants:
                    one[workload][variant] = run_child(*apply_spec(workload, variant))
            for kind in ("raw_put_item", "raw_batch_write"):
                for client in ("default_client", "package_client"):
                    one[kind][client] = run_child(*raw_spec(kind, client.split("_")[0]))
            runs.append(one)

        def rate(run, workload, variant):
            return run[workload][variant]["items_per_cpu_second"]

        figures = collections.OrderedDict()
        for workload in list(APPLY) + ["raw_put_item", "raw_batch_write"]:
            figures[workload] = collections.OrderedDict(
                (variant, collections.OrderedDict([
                    ("items_per_cpu_second", median([rate(run, workload, variant) for run in runs])),
                    ("all_repeats", [rate(run, workload, variant) for run in runs]),
                    ("requests_per_item", runs[0][workload][variant]["requests_per_item"])]))
                for variant in runs[0][workload])
        out["items_per_cpu_second"] = figures
        pairs = [("cuts", "no_parameter_validation_cut"), ("cuts", "no_user_agent_cut"), ("cuts", "no_setting_cuts")]
        if options.baseline:
            pairs += [("no_setting_cuts", "baseline"), ("cuts", "baseline")]
        raw_of = {"apply_retain": "raw_put_item", "apply_retain_deletes": "raw_put_item", "apply_mirror": "raw_batch_write"}
        ratios = collections.OrderedDict()
        for workload in APPLY:
            mine = collections.OrderedDict(("%s_vs_%s" % pair, median([rate(run, workload, pair[0])
                                                                         / rate(run, workload, pair[1]) for run in runs]))
                                           for pair in pairs)
            for variant in ("cuts",) + (("baseline",) if options.baseline else ()):
                for client in ("default_client", "package_client"):
                    mine["%s_vs_%s_%s" % (variant, raw_of[workload], client)] = median(
                        [rate(run, workload, variant) / rate(run, raw_of[workload], client) for run in runs])
            ratios[workload] = mine
        for kind in ("raw_put_item", "raw_batch_write"):
            ratios[kind] = {"package_client_vs_default_client": median(
                [rate(run, kind, "package_client") / rate(run, kind, "default_client") for run in runs])}
        out["ratios"] = ratios
        out["workers"] = dict(runs[0]["apply_retain"]["cuts"]["workers"], raw_put_item_threads=threads,
                              raw_batch_write_streams=streams)
        if options.breakdown:
            out["breakdown_us_per_item"] = dict((workload, run_child(*apply_spec(workload, "cuts", True))
                                                 ["breakdown_us_per_item"]) for workload in APPLY)
        out["load_average_at_end"] = [round(v, 2) for v in os.getloadavg()]
        out["environment"] = bench.environment(dynamodb="DynamoDB Local" if options.dynamodb == "local" else "dynalite")
        print(json.dumps(out, indent=2))
    finally:
        bench.stop_servers(helper, local)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
