"""apply-changes run after run while the source table is written at a steady rate, in simulated time, against
dynalite and s3rver, with its metrics sent to the CloudWatch stand-in (support.LocalCloudWatch): what the
runs publish when the backup keeps up with the writes, and when it does not.

Time is simulated, so that minutes of load take seconds: the job gets the simulated clock as its budget's
clock and as its wall clock (manifest ages, latencies, the metrics' timestamps). What takes simulated
time is the backup's write capacity: every item written to the backup table takes
1 / backup_writes_per_second seconds, one after the other whatever the job's parallelism, as writes to
a table at its provisioned capacity do; reads, S3 and the job's own work take none. Requests go to the
real servers as they come.

While time passes (a run's writes, or waiting for the next run), the source is written as the scenario
says: changes_per_second changes (each a new item) from the start for write_seconds; the event source
mapping closes a batch when batch_size records are in it or batching_window_seconds after its first
record, and the function then writes the batch's items' manifest, named and timed as it names them (its
first record's time and sequence number). The items go to the source table in that same moment: nothing
reads them before their manifest exists.

Runs go one at a time (the job allows one), each run_start_seconds after it was asked for: by the
function, when it wrote a manifest and no run was running or waiting; at a run's end, by the queued run
or the sweep, when a manifest was written during the run or some are left.

    PYTHONPATH=<the job code> python3 glue-job/tests/steady_load.py <scenario.json> <result.json> -- <the job's arguments>

The result: the PutMetricData requests the stand-in received (decoded, with any problem it found), each
run (start, end, passes, keys, whether the budget stopped it), and the counts of changes and backup writes.
"""

import json
import sys
import threading

import support
from backup_replication import aws_clients, manifest_format
from backup_replication.jobs import apply_changes


class Scenario(object):
    def __init__(self, spec):
        self.start = float(spec["start"])
        self.changes_per_second = float(spec["changes_per_second"])
        self.write_seconds = float(spec["write_seconds"])
        self.batch_size = int(spec["batch_size"])
        self.batching_window_seconds = float(spec["batching_window_seconds"])
        self.backup_writes_per_second = float(spec["backup_writes_per_second"])
        self.run_start_seconds = float(spec["run_start_seconds"])

    def batches(self):
        """[(close time, [(sequence number, record time), ...])] in time order."""
        count = int(round(self.changes_per_second * self.write_seconds))
        times = [self.start + i / self.changes_per_second for i in range(count)]
        batches, i = [], 0
        while i < count:
            first = times[i]
            records = []
            while i < count and len(records) < self.batch_size and times[i] < first + self.batching_window_seconds:
                records.append((i + 1, times[i]))
                i += 1
            full = len(records) == self.batch_size
            batches.append((records[-1][1] if full else first + self.batching_window_seconds, records))
        return batches


class Pipeline(object):
    """The simulated clock, the writes due by it, and whether a run is running or asked for."""

    def __init__(self, scenario, args, ddb, s3):
        self.scenario = scenario
        self.now = scenario.start
        self.source, self.backup = args["--source_table"], args["--backup_table"]
        self.bucket, self.prefix = args["--manifest_bucket"], args["--manifest_prefix"]
        self.ddb, self.s3 = ddb, s3
        self.schema = support.schema_of(ddb, self.source)
        if [self.schema.types[name] for name in self.schema.names] != ["S"]:
            raise ValueError("the scenario writes items keyed by one string attribute, not %r" % (self.schema,))
        self.due = scenario.batches()
        self.running = False
        self.asked_at = None      # a run asked for and not started
        self.asked_during_run = False
        self.changes = 0
        self.backup_writes = 0
        self._lock = threading.RLock()

    def __call__(self):
        return self.now

    def advance_to(self, moment):
        """Moves the clock to `moment`, writing every batch that closes on the way."""
        with self._lock:
            while self.due and self.due[0][0] <= moment:
                closed, records = self.due.pop(0)
                self.now = max(self.now, closed)
                self._write_batch(records)
            self.now = max(self.now, moment)

    def _write_batch(self, records):
        keys = [{self.schema.names[0]: {"S": "payment-%07d" % sequence}} for sequence, _ in records]
        support.put_items(self.ddb, self.source, [dict(key, amount={"N": str(sequence)})
                                                  for key, (sequence, _) in zip(keys, records)], self.schema)
        first, last = records[0], records[-1]
        name, body = manifest_format.build_manifest(
            keys, event_names=["INSERT"], first_sequence=first[0], last_sequence=last[0], records=len(records),
            order=manifest_format.order_from(first[1], first[0]), changed_between=(first[1], last[1]))
        self.s3.put_object(Bucket=self.bucket, Key=self.prefix + name, Body=body)
        self.changes += len(records)
        if self.running:
            self.asked_during_run = True  # the function's start is queued behind the running run
        elif self.asked_at is None:
            self.asked_at = self.now

    def charge_backup_write(self, method, kwargs):
        """Before a request: the time the backup takes to write the items it carries."""
        if method == "batch_write_item":
            items = len(kwargs["RequestItems"].get(self.backup, []))
        else:
            items = 1 if kwargs.get("TableName") == self.backup else 0
        if items:
            with self._lock:
                self.backup_writes += items
                self.advance_to(self.now + items / self.scenario.backup_writes_per_second)

    def manifests_left(self):
        return bool(self.s3.list_objects_v2(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1).get("Contents"))


def with_backup_capacity(pipeline):
    """The job's DynamoDB clients, each write to the backup charged to the simulated clock."""
    build = aws_clients.dynamodb_client

    def charged(region=None):
        before = dict((method, lambda kwargs, _number, method=method: pipeline.charge_backup_write(method, kwargs))
                      for method in ("put_item", "update_item", "delete_item", "batch_write_item"))
        return support.FlakyDynamoDB(build(region), before=before)

    aws_clients.dynamodb_client = charged


def run_scenario(scenario, argv):
    args = dict(zip(argv[0::2], argv[1::2]))
    pipeline = Pipeline(scenario, args, support.ddb(), support.s3())
    with_backup_capacity(pipeline)
    runs = []
    with support.LocalCloudWatch() as cloudwatch:
        while True:
            if pipeline.asked_at is None:
                if not pipeline.due:
                    break
                pipeline.advance_to(pipeline.due[0][0])
                continue
            pipeline.advance_to(pipeline.asked_at + scenario.run_start_seconds)
            pipeline.asked_at, pipeline.asked_during_run, pipeline.running = None, False, True
            started = pipeline()
            run_id = "jr_steady_%04d" % (len(runs) + 1)
            result, code, _, err = support.run_main(apply_changes.main, ["apply_changes.py", "--JOB_RUN_ID", run_id] + argv,
                                                     clock=pipeline, wall_clock=pipeline)
            if code:
                raise RuntimeError("run %s ended with exit status %s: %s" % (run_id, code, err))
            pipeline.running = False
            runs.append({"start": started, "end": pipeline(), "passes": result.passes, "keys": result.keys,
                         "stoppedByBudget": result.stopped_by_budget})
            if pipeline.asked_during_run or pipeline.manifests_left():
                pipeline.asked_at = pipeline()
    return {
        "requests": [{"operation": r["operation"], "problems": r["problems"], "body": r["body"]} for r in cloudwatch.requests],
        "runs": runs,
        "changes": pipeline.changes,
        "backupWrites": pipeline.backup_writes,
        "end": pipeline(),
    }


def main(argv):
    if len(argv) < 4 or argv[3] != "--":
        sys.stderr.write("usage: steady_load.py <scenario.json> <result.json> -- <the job's arguments>\n")
        return 2
    with open(argv[1]) as handle:
        scenario = Scenario(json.load(handle))
    support.require_endpoints()
    result = run_scenario(scenario, argv[4:])
    with open(argv[2], "w") as handle:
        json.dump(result, handle, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
