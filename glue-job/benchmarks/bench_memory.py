"""Peak memory of apply-changes draining a backlog of deletions with large retained images (run by hand; prints JSON).

    PYTHONPATH=glue-job python3 glue-job/benchmarks/bench_memory.py [--manifests 150] [--entries 100] [--image-bytes 10000]
                                     [--huge-pass-bytes 2000000000] [--skip-huge]

The deletion burst: 15,000 deletes of ~10 KB items become 150 manifests (about 143 MB of JSON,
retained images included); a run must drain them within a 1 GB worker (Glue Python shell, 0.0625 DPU).
This builds `--manifests` manifests of `--entries` "removed" entries each (manifest_format.build_manifest,
removed=[(key, sequence, old image, time)]), each old image about `--image-bytes` of manifest JSON
(30-odd string, number and map attributes, as a real item would have: the parsed size depends on the
attribute count, not only on the bytes), puts them to the local S3, leaves the source table empty (all
deleted), and runs the real entry point as a child process:

    python3 glue-job/apply_changes.py --source_table S --backup_table B --manifest_bucket M
        --manifest_prefix changes/ --rejected_prefix rejected/ --quarantine_prefix quarantine/
        --delete_policy retain --time_budget_seconds 3000 [--max_pass_bytes N]

twice, each with a fresh backup table and bucket: with the default --max_pass_bytes (16 MiB of manifest
JSON per pass), and with `--huge-pass-bytes` (every manifest in one pass: the behaviour before passes were
bounded by bytes; apply.py's cap on keys per pass, where there is one, must stay above the item count
for that: 15,000 keys are under the 50,000 default). For each: the child's peak RSS (ru_maxrss from os.wait4 of that child, so each run is
measured alone; resource.getrusage(RUSAGE_CHILDREN).ru_maxrss, the maximum over all children waited for
so far, is reported too), a VmRSS sample every 0.1 s (peak, and when), wall time, passes, items written
(retained images from the job's apply_summary line, and the backup's item count) against the 1 GB worker.
Servers: AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 when set, else dynalite and s3rver started with
glue-job/local_servers.js (as bench.py).
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import threading
import time

import bench  # beside this script
from backup_replication import aws_clients, manifest_format

WORKER_MB = 1024.0


def image(i, image_bytes):
    """An item of about `image_bytes` bytes of manifest JSON: string, number and map attributes."""
    key = {"id": {"S": "mem#%06d" % i}}
    item = dict(key)
    groups = max(1, image_bytes // 330)
    for g in range(groups):
        item["s%02d" % g] = {"S": ("%06d-" % i) + "abcdefghij" * 17}
        item["n%02d" % g] = {"N": "%d.%04d" % (i * 31 + g, g)}
        item["m%02d" % g] = {"M": {"code": {"S": "c%05d" % g}, "ok": {"BOOL": g % 2 == 0},
                                    "tags": {"L": [{"S": "t%d" % t} for t in range(3)]}}}
    return key, item


def build(options):
    """[(name, body)] of the manifests, in time order."""
    out = []
    start = 1764620000
    for m in range(options.manifests):
        removed = []
        for e in range(options.entries):
            i = m * options.entries + e
            key, item = image(i, options.image_bytes)
            removed.append((key, str(10 ** 20 + i), item, start + m))
        name, body = manifest_format.build_manifest([], event_names=("REMOVE",), removed=removed,
                                                    first_sequence=str(10 ** 20 + m * options.entries),
                                                    last_sequence=str(10 ** 20 + (m + 1) * options.entries - 1),
                                                    order=manifest_format.order_from(start + m, 10 ** 20 + m * options.entries),
                                                    changed_between=(start + m, start + m))
        out.append((name, body))
    return out


class RssSampler(threading.Thread):
    def __init__(self, pid, started):
        threading.Thread.__init__(self, daemon=True)
        self.pid = pid
        self.started = started
        self.peak_kb = 0
        self.peak_at = 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            try:
                with open("/proc/%d/status" % self.pid) as status:
                    for line in status:
                        if line.startswith("VmRSS:"):
                            kb = int(line.split()[1])
                            if kb > self.peak_kb:
                                self.peak_kb, self.peak_at = kb, time.monotonic() - self.started
            except (IOError, OSError, ValueError):
                return
            self.stop.wait(0.1)


def count_items(client, table):
    count, kwargs = 0, {"TableName": table, "Select": "COUNT"}
    while True:
        response = client.scan(**kwargs)
        count += response["Count"]
        if "LastEvaluatedKey" not in response:
            return count
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def run_job(options, ddb, s3, bodies, tag, max_pass_bytes):
    source, backup, bucket = "mem-src-" + tag, "mem-bak-" + tag, "mem-" + tag
    for table in (source, backup):
        bench.create_table(ddb, table)
    s3.create_bucket(Bucket=bucket)
    for name, body in bodies:
        s3.put_object(Bucket=bucket, Key="changes/" + name, Body=body)
    command = [sys.executable, os.path.join(bench.GLUE_JOB, "apply_changes.py"), "--source_table", source,
               "--backup_table", backup, "--manifest_bucket", bucket, "--manifest_prefix", "changes/",
               "--rejected_prefix", "rejected/", "--quarantine_prefix", "quarantine/", "--delete_policy", "retain",
               "--time_budget_seconds", "3000"]
    if max_pass_bytes is not None:
        command += ["--max_pass_bytes", str(max_pass_bytes)]
    log_path = os.path.join(options.log_dir, "apply-%s.log" % tag)
    started = time.monotonic()
    with open(log_path, "wb") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
        sampler = RssSampler(child.pid, started)
        sampler.start()
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status) if hasattr(os, "waitstatus_to_exitcode") else status
    wall = time.monotonic() - started
    sampler.stop.set()
    sampler.join()
    summary, passes = None, []
    with open(log_path) as log:
        for line in log:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "apply_summary":
                summary = event
            elif event.get("event") == "apply_pass":
                passes.append({"listed": event.get("listed"), "listed_mb": round(event.get("listed_bytes", 0) / 1e6, 1),
                               "seconds": event.get("seconds")})
    peak_mb = usage.ru_maxrss / 1024.0
    result = {
        "max_pass_bytes": max_pass_bytes if max_pass_bytes is not None else "default (16 MiB)",
        "exit_status": child.returncode,
        "peak_rss_mb": round(peak_mb, 1),
        "sampled_peak_rss_mb": round(sampler.peak_kb / 1024.0, 1),
        "sampled_peak_at_seconds": round(sampler.peak_at, 1),
        "rusage_children_maxrss_mb_so_far": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0, 1),
        "fits_1gb_worker": peak_mb < WORKER_MB,
        "share_of_1gb": round(peak_mb / WORKER_MB, 2),
        "wall_seconds": round(wall, 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "passes": len(passes),
        "pass_detail": passes if len(passes) <= 12 else passes[:3] + [{"...": len(passes) - 6}] + passes[-3:],
        "log": log_path,
    }
    if summary is not None:
        result["keys_applied"] = summary.get("keys")
        result["manifests_applied"] = summary.get("manifests_applied")
        result["retained_images_written"] = summary.get("stats", {}).get("retained_images")
        result["write_requests"] = summary.get("stats", {}).get("write_requests")
    result["backup_items"] = count_items(ddb, backup)
    result["manifests_left"] = s3.list_objects_v2(Bucket=bucket, Prefix="changes/").get("KeyCount", 0)
    result["items_per_second"] = round(result["backup_items"] / wall, 1)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--manifests", type=int, default=150)
    parser.add_argument("--entries", type=int, default=100, help="removed entries per manifest")
    parser.add_argument("--image-bytes", type=int, default=10000, help="JSON bytes of each old image (about)")
    parser.add_argument("--huge-pass-bytes", type=int, default=2000000000)
    parser.add_argument("--skip-huge", action="store_true", help="only the default --max_pass_bytes run")
    parser.add_argument("--log-dir", default="/tmp")
    options = parser.parse_args()
    helper = bench.ensure_servers()
    try:
        ddb = aws_clients.dynamodb_client()
        s3 = aws_clients.s3_client()
        started = time.monotonic()
        bodies = build(options)
        sizes = [len(body) for _, body in bodies]
        results = {"manifests": options.manifests, "entries_per_manifest": options.entries,
                   "items": options.manifests * options.entries, "image_bytes": options.image_bytes,
                   "manifest_json_mb": round(sum(sizes) / 1e6, 1),
                   "manifest_mb_each": round(sum(sizes) / 1e6 / len(sizes), 2),
                   "build_seconds": round(time.monotonic() - started, 1),
                   "builder_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1),
                   "worker_mb": WORKER_MB}
        tag = str(int(time.time() * 1000))
        results["default_pass_bytes"] = run_job(options, ddb, s3, bodies, tag + "-d", None)
        if not options.skip_huge:
            results["huge_pass_bytes"] = run_job(options, ddb, s3, bodies, tag + "-h", options.huge_pass_bytes)
        results["environment"] = {"python": platform.python_version(), "cpus": os.cpu_count(),
                                  "server": "dynalite (in-memory) and s3rver on loopback"}
        print(json.dumps(results, indent=2))
    finally:
        bench.stop_servers(helper)


if __name__ == "__main__":
    main()
