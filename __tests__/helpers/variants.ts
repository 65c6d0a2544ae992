/** Configurations several test files synthesize: each written once, here. */
import type { EnvironmentInput, ProjectConfigInput } from "../../stacks/config/schema";

/** The stack synthesized without any configuration file. */
export const DEFAULT_STACK = "api-pagos-replication";

/** Composite N/B key, mirrored deletes, a Spark apply job, no full-copy schedule nor restore drill, another region. */
export const COMPOSITE_KEY_SPARK: EnvironmentInput = {
  region: "eu-west-3",
  sourceTable: { name: "payments", partitionKey: { name: "pk", type: "N" }, sortKey: { name: "sk", type: "B" } },
  backupTable: { name: "payments-copy" },
  deletes: "mirror",
  lambda: { memoryMb: 512, runtime: "nodejs24.x", architecture: "x86_64" },
  stream: { batchSize: 500 },
  applyChangesJob: { type: "glueetl" },
  fullCopyJob: { schedule: null },
  restoreDrill: { schedule: null },
  tags: { team: "payments" },
};

/** Every encryption, retention and alarm control set away from its default. */
export const CONFIGURED_CONTROLS: EnvironmentInput = {
  encryption: { customerManagedKey: true },
  deletionProtection: false,
  sourceTable: { ttlAttribute: "expires_at" },
  logRetentionDays: 365,
  bucket: { noncurrentVersionDays: 7, rejectedManifestDays: 400 },
  alarms: { email: "oncall@example.com", iteratorAgeSeconds: 120 },
};

/** Two environments: staging with an S3 backend, prod with Terraform Cloud. */
export const TWO_ENVIRONMENTS = {
  environments: {
    staging: {
      region: "eu-west-1",
      namePrefix: "payments-staging",
      sourceTable: { name: "api-pagos-staging" },
      backupTable: { name: "api-pos-backup-staging" },
      backend: { type: "s3", bucket: "acme-terraform-state", kmsKeyId: "alias/terraform-state" },
      tags: { "cost-center": "payments" },
      lambda: { memoryMb: 128 },
    },
    prod: {
      region: "eu-west-1",
      allowedAccountIds: ["111122223333"],
      backend: { type: "cloud", organization: "acme", workspace: "payments-replication-prod" },
      fullCopyJob: { numberOfWorkers: 10 },
    },
  },
} satisfies ProjectConfigInput;

/** The backup table in another account, its data under customer-managed keys. */
export const BACKUP_OTHER_ACCOUNT: EnvironmentInput = {
  encryption: { customerManagedKey: true },
  backupTable: { assumeRoleArn: "arn:aws:iam::200000000010:role/backup-deployer" },
};

/** The backup table in another region of the source's account. */
export const BACKUP_OTHER_REGION: EnvironmentInput = { backupTable: { region: "us-west-2" } };

/** Every setting away from its default (a test keeps it so as settings are added). */
export const EVERY_SETTING: EnvironmentInput = {
  region: "eu-central-1",
  namePrefix: "payments-every",
  tags: { team: "payments" },
  providerVersion: "~> 6.25",
  allowedAccountIds: ["100000000008"],
  backend: { type: "s3", bucket: "acme-terraform-state", key: "every/terraform.tfstate", region: "eu-west-1", kmsKeyId: "alias/terraform-state" },
  sourceTable: {
    name: "payments-live",
    partitionKey: { name: "pk", type: "B" },
    sortKey: { name: "sk", type: "N" },
    ttlAttribute: "expires_at",
    existing: true,
    kmsKeyArn: "arn:aws:kms:eu-central-1:100000000008:key/1234abcd-12ab-34cd-56ef-1234567890ab",
  },
  backupTable: {
    name: "payments-live-backup",
    expireWithSource: false,
    region: "eu-west-1",
    assumeRoleArn: "arn:aws:iam::200000000008:role/backup-deployer",
    vault: { schedule: "cron(30 2 ? * MON-FRI *)", retentionDays: 90, lock: { mode: "compliance", changeableForDays: 3, minRetentionDays: 30, maxRetentionDays: 730 } },
  },
  deletionProtection: false,
  deletes: "mirror",
  retainedAttribute: "_gone_from_source",
  transform: { rename: { amount: "importe" }, drop: ["debug"] },
  logRetentionDays: 90,
  encryption: { customerManagedKey: true },
  bucket: { noncurrentVersionDays: 7, rejectedManifestDays: 30, forceDestroy: true },
  alarms: { email: "oncall@example.com", iteratorAgeSeconds: 300, replicationLatencySeconds: 1200, oldestPendingManifestAgeSeconds: 3600, applyStalledMinutes: 60 },
  lambda: { runtime: "nodejs24.x", architecture: "x86_64", memoryMb: 512, timeoutSeconds: 120, environment: { LOG_LEVEL: "debug" } },
  stream: { batchSize: 500, batchingWindowSeconds: 10, maximumRetryAttempts: 3, maximumRecordAgeSeconds: 3600, parallelizationFactor: 2 },
  applyChangesJob: { type: "glueetl", maxCapacity: 1, maxWorkers: 4, timeoutMinutes: 30, timeBudgetSeconds: 900, maxPassMegabytes: 32, sweepIntervalMinutes: 10 },
  fullCopyJob: { workerType: "G.2X", numberOfWorkers: 4, timeoutMinutes: 240, scanSegments: 32, verifyWrites: false, maxItemsPerSecond: 500, schedule: "cron(0 2 ? * SAT *)" },
  verifyJob: { schedule: "cron(0 6 ? * SAT *)", workerType: "G.2X", numberOfWorkers: 4, timeoutMinutes: 240, sampleFraction: 0.5, settleSeconds: 600 },
  restore: { allowedTargets: ["payments-recovered"], workerType: "G.2X", numberOfWorkers: 4, timeoutMinutes: 240, maxItemsPerSecond: 1000 },
  restoreDrill: { schedule: "cron(30 4 ? * TUE *)", sampleFraction: 0.1, maxRestoreMinutes: 120 },
};

/** Each configuration another test file synthesizes, as one environment of a project. */
export const VARIANTS = {
  environments: {
    "customer-managed-key": {
      allowedAccountIds: ["100000000001"],
      encryption: { customerManagedKey: true },
      // Planned, not applied: the vault's selection is planned here (emulator difference backup-selection).
      backupTable: { vault: {} },
      deletes: "mirror",
      alarms: { email: "oncall@example.com" },
    },
    "configured-controls": { ...CONFIGURED_CONTROLS, allowedAccountIds: ["100000000002"] },
    "backup-keeps-expired": {
      allowedAccountIds: ["100000000003"],
      sourceTable: { ttlAttribute: "expires_at" },
      backupTable: { expireWithSource: false },
    },
    "existing-source-table": {
      allowedAccountIds: ["100000000004"],
      sourceTable: { existing: true, partitionKey: { name: "pk", type: "S" }, sortKey: { name: "sk", type: "N" } },
    },
    transform: {
      allowedAccountIds: ["100000000005"],
      deletes: "mirror",
      transform: { rename: { amount: "importe" }, drop: ["debug"] },
      fullCopyJob: { verifyWrites: false, scanSegments: 64 },
      applyChangesJob: { timeBudgetSeconds: 900 },
    },
    "composite-key-spark": { ...COMPOSITE_KEY_SPARK, allowedAccountIds: ["100000000007"] },
    "every-setting": EVERY_SETTING,
    // The backup in another account (under keys of its own), and in another region of the same account.
    "backup-other-account": { ...BACKUP_OTHER_ACCOUNT, allowedAccountIds: ["100000000010"] },
    "backup-other-region": { ...BACKUP_OTHER_REGION, allowedAccountIds: ["100000000011"] },
    "cloud-workspace-tags": {
      allowedAccountIds: ["100000000006"],
      backend: { type: "cloud", organization: "acme", workspaceTags: ["replication", "prod"], hostname: "tfe.example.com" },
      providerVersion: ">= 6.25, < 7.0",
    },
    // The two environments of environments.test.ts: an S3 backend, and Terraform Cloud.
    ...TWO_ENVIRONMENTS.environments,
  },
} satisfies ProjectConfigInput;
