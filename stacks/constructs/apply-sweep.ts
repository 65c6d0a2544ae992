import { Construct } from "constructs";
import { Fn } from "cdktf";
import { CloudwatchEventRule } from "@cdktf/provider-aws/lib/cloudwatch-event-rule";
import { CloudwatchEventTarget } from "@cdktf/provider-aws/lib/cloudwatch-event-target";
import { LambdaPermission } from "@cdktf/provider-aws/lib/lambda-permission";

/**
 * The run ends the rule sweeps on: a success only. After a FAILED, TIMEOUT, STOPPED or ERROR run the
 * schedule restarts (once an interval), so a run that fails at once never loops (sweep.ts).
 */
export const SWEPT_RUN_STATES = ["SUCCEEDED"] as const;

export interface ApplySweepOptions {
  readonly namePrefix: string;
  readonly applyJobName: string;
  /** The change-trigger function: its handler answers the sweep events (functions/change-trigger/sweep.ts). */
  readonly functionName: string;
  readonly functionArn: string;
  readonly intervalMinutes: number;
}

/**
 * Liveness that does not depend on how Glue treats a start while a run is busy: when an apply run
 * succeeds and on a schedule, the function lists the manifest prefix and starts a run if anything is
 * pending. The schedule covers what the rule cannot (Glue sends its events best effort; a WAITING
 * run may fail) and restarts after a failed run, at most once an interval.
 */
export class ApplySweep extends Construct {
  public readonly runEnded: CloudwatchEventRule;
  public readonly schedule: CloudwatchEventRule;

  constructor(scope: Construct, id: string, options: ApplySweepOptions) {
    super(scope, id);
    const { namePrefix } = options;
    this.runEnded = new CloudwatchEventRule(this, "run-ended", {
      name: `${namePrefix}-apply-run-ended`,
      description: "An apply-changes run succeeded: start the next one if manifests are pending",
      // jsonencode: the job name is a reference (see pipeline-alarms.ts).
      eventPattern: Fn.jsonencode({
        source: ["aws.glue"],
        "detail-type": ["Glue Job State Change"],
        detail: { jobName: [options.applyJobName], state: [...SWEPT_RUN_STATES] },
      }),
    });
    const minutes = options.intervalMinutes;
    this.schedule = new CloudwatchEventRule(this, "schedule", {
      name: `${namePrefix}-apply-sweep`,
      description: "Safety net: start an apply-changes run if manifests are pending and none runs",
      scheduleExpression: `rate(${minutes} ${minutes === 1 ? "minute" : "minutes"})`,
    });
    for (const [name, rule] of [["run-ended", this.runEnded], ["schedule", this.schedule]] as const) {
      new CloudwatchEventTarget(this, `${name}-target`, { rule: rule.name, arn: options.functionArn });
      new LambdaPermission(this, `${name}-invoke`, {
        statementId: `sweep-${name}`,
        action: "lambda:InvokeFunction",
        functionName: options.functionName,
        principal: "events.amazonaws.com",
        sourceArn: rule.arn,
      });
    }
  }
}
