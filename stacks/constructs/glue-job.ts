import type { ITerraformDependable } from "cdktf";
import { Construct } from "constructs";
import type { GlueJob } from "@cdktf/provider-aws/lib/glue-job";
import { GlueTrigger } from "@cdktf/provider-aws/lib/glue-trigger";
import type { Grant } from "../iam/grant";
import { ServiceRole } from "../iam/service-role";
import { HclSafeGlueJob } from "./hcl-safe-glue-job";

/** Python shell (one small DPU) or Spark (workers). */
export type GlueJobCompute =
  | { readonly type: "pythonshell"; readonly maxCapacity: number }
  | { readonly type: "glueetl"; readonly workerType: string; readonly numberOfWorkers: number };

export interface ReplicationGlueJobOptions {
  readonly jobName: string;
  readonly description: string;
  readonly compute: GlueJobCompute;
  readonly scriptLocation: string;
  /** S3 URL of the wheel of the job code (glue-scripts.ts), passed in the argument of the job's type. */
  readonly libraryPath: string;
  /** Job arguments without their leading `--`. */
  readonly arguments: Record<string, string>;
  /**
   * Arguments a run cannot override, without their leading `--`: what a run's safety rests on. Glue's
   * NonOverridableArguments: "Arguments for this job that are not overridden when providing job
   * arguments in a job run" (AWS Glue API, Job). Default: none.
   */
  readonly fixedArguments?: Record<string, string>;
  readonly timeoutMinutes: number;
  /** Queue runs started while one is busy instead of failing them. */
  readonly queueRuns: boolean;
  /** Glue cron expression, or undefined for on demand only. */
  readonly schedule?: string;
  /** What the job's code calls, on exact ARNs. */
  readonly grants: Grant[];
  /** The account the jobs run in (trust policy condition). */
  readonly accountId: string;
  /** Name of the Glue security configuration the job runs with. */
  readonly securityConfiguration: string;
  /** The uploaded scripts: a run must not start before they exist. */
  readonly scripts: ITerraformDependable[];
}

// Python shell runs Python 3.9 on Glue 3.0; Spark jobs run Glue 5.0 (Python 3.11).
const GLUE_VERSION = { pythonshell: "3.0", glueetl: "5.0" } as const;
const PYTHON_VERSION = { pythonshell: "3.9", glueetl: "3" } as const;
// Where each job type takes a wheel. Python shell: --extra-py-files ("Providing your own Python library",
// https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html: .whl, no .egg on Python 3.9). Spark: pip
// installs wheels named in --additional-python-modules on the driver and executors ("Using Python libraries
// with AWS Glue", https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-python-libraries.html);
// its --extra-py-files is documented for .py and .zip files.
const LIBRARY_ARGUMENT = { pythonshell: "--extra-py-files", glueetl: "--additional-python-modules" } as const;

/** One Glue job running a script of glue-job/, with its own least-privilege role and optional schedule. */
export class ReplicationGlueJob extends Construct {
  public readonly job: GlueJob;
  public readonly role: ServiceRole;
  /** What the role's policy grants: the backup table's resource policy grants the same on the table. */
  public readonly grants: Grant[];

  constructor(scope: Construct, id: string, options: ReplicationGlueJobOptions) {
    super(scope, id);
    const { compute } = options;
    this.grants = options.grants;
    this.role = new ServiceRole(this, "role", {
      roleName: options.jobName,
      servicePrincipal: "glue.amazonaws.com",
      sourceAccount: options.accountId,
      grants: options.grants,
    });
    const flags = (values: Record<string, string>) => Object.fromEntries(Object.entries(values).map(([name, value]) => [`--${name}`, value]));
    const jobArguments = flags(options.arguments);
    const fixedArguments = options.fixedArguments ? flags(options.fixedArguments) : undefined;
    this.job = new HclSafeGlueJob(this, "job", {
      name: options.jobName,
      description: options.description,
      roleArn: this.role.role.arn,
      glueVersion: GLUE_VERSION[compute.type],
      command: {
        name: compute.type,
        pythonVersion: PYTHON_VERSION[compute.type],
        scriptLocation: options.scriptLocation,
      },
      ...(compute.type === "pythonshell"
        ? { maxCapacity: compute.maxCapacity }
        : { workerType: compute.workerType, numberOfWorkers: compute.numberOfWorkers }),
      timeout: options.timeoutMinutes,
      // No automatic retry: remaining manifests are picked up by the next run, failures raise alarms.
      maxRetries: 0,
      executionProperty: { maxConcurrentRuns: 1 },
      jobRunQueuingEnabled: options.queueRuns,
      securityConfiguration: options.securityConfiguration,
      defaultArguments: {
        "--job-language": "python",
        [LIBRARY_ARGUMENT[compute.type]]: options.libraryPath,
        "--enable-metrics": "true",
        "--enable-continuous-cloudwatch-log": "true",
        "--job-bookmark-option": "job-bookmark-disable",
        ...jobArguments,
      },
      ...(fixedArguments ? { nonOverridableArguments: fixedArguments } : {}),
      dependsOn: [this.role.policy, ...options.scripts],
    });
    if (options.schedule) {
      new GlueTrigger(this, "schedule", {
        name: `${options.jobName}-schedule`,
        type: "SCHEDULED",
        schedule: options.schedule,
        startOnCreation: true,
        actions: [{ jobName: this.job.name }],
      });
    }
  }
}
