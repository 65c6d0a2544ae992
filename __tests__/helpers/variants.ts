/** Configurations several test files synthesize: each written once, here. */
import type { EnvironmentInput, ProjectConfigInput } from "../../stacks/config/schema";

/** Composite N/B key, mirrored deletes, a Spark apply job, no full-copy schedule, another region. */
export const COMPOSITE_KEY_SPARK: EnvironmentInput = {
  region: "eu-west-3",
  sourceTable: { name: "payments", partitionKey: { name: "pk", type: "N" }, sortKey: { name: "sk", type: "B" } },
  backupTable: { name: "payments-copy" },
  deletes: "mirror",
  lambda: { memoryMb: 512, runtime: "nodejs24.x", architecture: "x86_64" },
  stream: { batchSize: 500 },
  applyChangesJob: { type: "glueetl" },
  fullCopyJob: { schedule: null },
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
