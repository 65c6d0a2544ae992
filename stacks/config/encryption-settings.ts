/** How the stack keeps its data: encryption, log retention, the bucket's old versions. */
import { z } from "zod";
import { int } from "./fields";

/** The retention periods CloudWatch Logs accepts (PutRetentionPolicy). */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const logRetentionDays = z.number().refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
  error: `must be one of the CloudWatch Logs retention periods ${LOG_RETENTION_DAYS.join(", ")}`,
});

export const encryptionSettings = {
  logRetentionDays: logRetentionDays.default(30)
    .meta({ description: "a CloudWatch Logs retention period (1, 3, 5, 7, 14, 30, 60, 90, …, 3653)" }),
  encryption: z
    .strictObject({
      /**
       * Encrypt the tables, bucket, queue, Lambda logs and Glue output with a customer-managed KMS
       * key of this stack instead of AWS-owned/managed keys. The alarm topic always uses that key.
       */
      customerManagedKey: z.boolean().default(false)
        .meta({ description: "`true` encrypts the data stores with the stack's KMS key" }),
    })
    .prefault({}),
  bucket: z
    .strictObject({
      /** Days an overwritten or deleted object version is kept. */
      noncurrentVersionDays: int(1, 3650).default(30)
        .meta({ description: "1–3650: how long overwritten or deleted object versions are kept" }),
      /** Days a rejected (malformed) manifest is kept for inspection. */
      rejectedManifestDays: int(1, 3650).default(90)
        .meta({ description: "1–3650: how long rejected manifests are kept" }),
      /**
       * Let `terraform destroy` delete the bucket with every object version in it (manifests,
       * quarantined keys, verify and restore reports). Off, a bucket the pipeline has written to
       * cannot be destroyed (BucketNotEmpty): turn it on, apply, then destroy (README, "Destroying an environment").
       */
      forceDestroy: z.boolean().default(false)
        .meta({ description: "boolean: `terraform destroy` deletes the bucket with every object version in it (see \"Destroying an environment\")" }),
    })
    .prefault({}),
};
