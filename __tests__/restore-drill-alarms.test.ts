/**
 * The restore drill's alarms as synthesized, against what drills really did: the datums the Python
 * suite's drills published (glue-job/tests/test_restore_drill.py, recorded in RESULTS_DIR like the IAM
 * surfaces) are evaluated as CloudWatch evaluates the estimate's alarm (helpers/alarm-evaluation.ts), and
 * the Glue event a failed drill run sends is matched against the failure rules. Run alone, this file runs
 * the suite itself when no run of the current Python code is recorded.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { evaluateAlarm, type Datum, type MetricAlarm } from "./helpers/alarm-evaluation";
import { matchesPattern } from "../local-aws/stream-poller";
import { jsonencodeArgument } from "./helpers/hcl";
import { REFERENCE_DIR } from "./helpers/reference";
import { synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";
import { awaitRecordedRun, RESULTS_DIR, runPythonSuite, SUITE_WAIT_MS } from "./python/python-suite";

const MINUTE = 60_000;

beforeAll(async () => {
  const suite = (await awaitRecordedRun()) ?? (await runPythonSuite());
  expect({ exitCode: suite.exitCode, failures: suite.failures, errors: suite.errors }).toEqual({ exitCode: 0, failures: 0, errors: 0 });
}, SUITE_WAIT_MS);

const recorded = (name: string) => JSON.parse(fs.readFileSync(path.join(RESULTS_DIR, `${name}.json`), "utf8")) as Datum[];

/** The estimate's alarm evaluated from a minute before the drill published to an hour and a half after. */
function evaluated(stack: SynthesizedStack, datums: Datum[]) {
  const alarm = stack.find("aws_cloudwatch_metric_alarm", "alarms/restore-drill-slow").body as unknown as MetricAlarm;
  const at = Math.max(...datums.map((d) => d.timestamp));
  return evaluateAlarm(alarm, datums, at - MINUTE, at + 90 * MINUTE, "OK");
}

describe("the restore drill's estimate alarm (restoreDrill.maxRestoreMinutes: 1, as the suite's slow drill)", () => {
  const stack = synthesizeEnvironment({ restoreDrill: { maxRestoreMinutes: 1 } });

  test("fires on the drill that estimated a full restore past the threshold, and stays so until another drill", () => {
    const datums = recorded("restore-drill-slow-metrics");
    const estimate = datums.find((d) => d.metricName === "RestoreDrillEstimatedFullRestoreTime")!;
    expect(estimate.value).toBeGreaterThan(60);
    const states = evaluated(stack, datums);
    expect(states[0].state).toBe("OK");
    // Once its minute has passed, and for the rest of the window: missing data keeps the state.
    expect(states.slice(2).every((e) => e.state === "ALARM")).toBe(true);
  });

  test("stays quiet on a drill that estimated less", () => {
    const datums = recorded("restore-drill-mismatch-metrics");
    expect(datums.find((d) => d.metricName === "RestoreDrillEstimatedFullRestoreTime")!.value).toBeLessThan(60);
    expect(new Set(evaluated(stack, datums).map((e) => e.state))).toEqual(new Set(["OK"]));
  });
});

describe("a failed drill run pages through the drill's own rule", () => {
  const stack = synthesizeEnvironment();
  const failedRun = JSON.parse(fs.readFileSync(path.join(REFERENCE_DIR, "eventbridge", "glue-job-state-change-failed.json"), "utf8")) as Record<string, any>;
  // The rules name the jobs by reference: stand in the names Terraform gives them.
  const names: Record<string, string> = Object.fromEntries(Object.entries(stack.all("aws_glue_job")).map(([id, job]) => [`\${aws_glue_job.${id}.name}`, job.name as string]));
  const pattern = async (rule: string) => {
    const raw = (await jsonencodeArgument(stack.find("aws_cloudwatch_event_rule", `alarms/${rule}`).body.event_pattern)) as Record<string, any>;
    return { ...raw, detail: { ...raw.detail, jobName: (raw.detail.jobName as string[]).map((name) => names[name] ?? name) } };
  };

  test("the drill that found a mismatch failed its run (the suite saw it raise), and the rule matches that run's event; the other jobs' rule does not", async () => {
    const mismatched = recorded("restore-drill-mismatch-metrics").find((d) => d.metricName === "RestoreDrillMismatches")!;
    expect(mismatched.value).toBeGreaterThan(0);
    const event = { ...failedRun, detail: { ...failedRun.detail, jobName: "api-pagos-replication-restore-drill" } };
    expect(matchesPattern(await pattern("restore-drill-failed"), event)).toBe(true);
    expect(matchesPattern(await pattern("glue-job-failed"), event)).toBe(false);
    for (const state of ["TIMEOUT", "STOPPED", "ERROR"]) expect(matchesPattern(await pattern("restore-drill-failed"), { ...event, detail: { ...event.detail, state } })).toBe(true);
    expect(matchesPattern(await pattern("restore-drill-failed"), { ...event, detail: { ...event.detail, state: "SUCCEEDED" } })).toBe(false);
    expect(matchesPattern(await pattern("restore-drill-failed"), { ...event, detail: { ...event.detail, jobName: "api-pagos-replication-restore" } })).toBe(false);
  });
});
