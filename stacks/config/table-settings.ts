/** The tables: their names and keys, and how backup items follow the source's. */
import { z } from "zod";
import { attributeName, oneOf, regionName, tableName } from "./fields";
import { vaultSettings, type VaultSettings } from "./vault-settings";

// A key ARN, not an alias: key policies and IAM grants are evaluated on the key's ARN.
const KMS_KEY_ARN = /^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^arn:aws[a-z-]*:kms:[a-z]{2}(-[a-z]+)+-\d{1,2}:\d{12}:key\/mrk-[0-9a-f]{32}$/;

const keyAttribute = z.strictObject({
  /** Attribute name of the key. */
  name: attributeName,
  /** DynamoDB scalar type of the key: S (string), N (number) or B (binary). */
  type: oneOf(["S", "N", "B"]).default("S"),
});

export type KeyAttribute = z.output<typeof keyAttribute>;

// A role, with or without a path: the account id it carries is the backup's account.
const ROLE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):role\/[\w+=,.@/-]{1,512}$/;

export const tableSettings = {
  sourceTable: z
    .strictObject({
      name: tableName.default("api-pagos")
        .meta({ description: "3–255 of `a-z A-Z 0-9 _ . -`" }),
      partitionKey: keyAttribute.prefault({ name: "id" })
        .meta({ description: "`type`: `S`, `N` or `B`" }),
      sortKey: keyAttribute.optional()
        .meta({ description: "as `partitionKey`" }),
      /** Attribute holding the expiry time (epoch seconds) when the source uses DynamoDB TTL. */
      ttlAttribute: attributeName.optional()
        .meta({ description: "the source's TTL attribute (not a key)" }),
      /**
       * The table exists and is managed elsewhere: the stack only reads it (and fails the plan
       * unless its key matches and its stream is on with NEW_AND_OLD_IMAGES); it never changes it.
       */
      existing: z.boolean().default(false)
        .meta({ description: "`true`: the table exists and is managed elsewhere; read, checked, never changed" }),
      /**
       * With `existing`: the customer-managed KMS key the existing table (and so its stream) is
       * encrypted with. The function and both jobs are granted kms:Decrypt on it through DynamoDB
       * only, and the plan fails unless the table uses exactly this key. The key's own policy must
       * also allow this account's IAM policies (the default key policy does).
       */
      kmsKeyArn: z
        .string({ error: "must be a string" })
        .regex(KMS_KEY_ARN, { error: "must be the ARN of a KMS key (arn:aws:kms:<region>:<account>:key/<key-id>), not an alias" })
        .optional()
        .meta({ description: "with `existing`: the ARN (not an alias) of the customer-managed KMS key the table is encrypted with. The function and both jobs get `kms:Decrypt` on it through DynamoDB only, and the plan fails unless the table uses exactly this key. The key's own policy must allow this account's IAM policies (a default key policy does; a key in another account must name the three roles). Without it, a source under its owner's customer-managed key fails at run time with AccessDenied on the stream and the reads" }),
    })
    .prefault({}),
  backupTable: z
    .strictObject({
      name: tableName.default("api-pos-backup")
        .meta({ description: "as `sourceTable.name`, and different from it" }),
      /** With a source TTL: expire backup items on the same attribute (false keeps them). */
      expireWithSource: z.boolean().default(true)
        .meta({ description: "with a source TTL, expire backup items on the same attribute; `false` keeps them" }),
      /**
       * The backup's region when it differs from the source's: the table (and its key) are created there,
       * and the jobs call it there.
       */
      region: regionName.optional()
        .meta({ description: "an AWS region name: where the backup table (and its key, and the vault) are created. The jobs still run in `region` and call the table there", defaultText: "`region`" }),
      /**
       * The role Terraform assumes in the backup's account. The backup table, its key and the vault are
       * created there; the pipeline's roles stay in the source account and reach the table through its
       * resource-based policy, which denies the source account's principals what would destroy it.
       */
      assumeRoleArn: z
        .string({ error: "must be a string" })
        .regex(ROLE_ARN, { error: "must be the ARN of an IAM role (arn:aws:iam::<12-digit account>:role/<name>)" })
        .optional()
        .meta({ description: "the ARN of the role Terraform assumes in the backup's account (`arn:aws:iam::<account>:role/<name>`); the backup table, its key and the vault are created there, and the table's resource policy lets the pipeline's roles in, and denies every principal of the source account deleting the table, its protections, its policy (and, under `retain`, its items). See [A backup in another account](operations.md#a-backup-in-another-account-or-region)", defaultText: "none: the source's account" }),
      vault: vaultSettings,
    })
    .prefault({}),
  /** Deletion protection on both tables. */
  deletionProtection: z.boolean().default(true)
    .meta({ description: "boolean, for both tables" }),
  /** What the backup does when an item is deleted from the source: keep it (retain) or delete it (mirror). */
  deletes: oneOf(["retain", "mirror"]).default("retain")
    .meta({ description: "`retain` (the backup keeps items deleted from the source) or `mirror`" }),
  /**
   * Under `retain`, the attribute that marks a backup item as the last state of an item deleted from
   * the source: `{"M": {"sequenceNumber": {"S": <REMOVE record's sequence number, 40 digits>},
   * "deletedAt": {"S": <ISO-8601 UTC>}}}`. Both Glue jobs write with conditions on it, so that the
   * newest deletion wins whatever order writes land in. Source items must never carry it (a job run
   * meeting one stops with an error naming the item), and the transform may not touch it.
   */
  retainedAttribute: attributeName.default("_deleted_from_source")
    .meta({ description: "1–255 characters: the attribute marking a retained item with its deletion's version (`{\"sequenceNumber\": S, \"deletedAt\": S}`); must be an attribute source items never have (a run meeting one stops, naming the item), not a key or the TTL attribute, and not renamed or dropped by `transform`" }),
  /** Optional transformation of non-key attributes, applied identically by both Glue jobs. */
  transform: z
    .strictObject({
      rename: z.record(attributeName, attributeName).default({})
        .meta({ description: "non-key attribute → new name, applied identically by both replication jobs (verify compares through it, restore reverses it); two attributes cannot get one name" }),
      drop: z.array(attributeName).default([])
        .meta({ description: "non-key attributes the backup leaves out" }),
    })
    .prefault({}),
};

interface Tables {
  sourceTable: { name: string; partitionKey: KeyAttribute; sortKey?: KeyAttribute; ttlAttribute?: string; existing: boolean; kmsKeyArn?: string };
  backupTable: { name: string; expireWithSource: boolean; vault?: VaultSettings; region?: string; assumeRoleArn?: string };
  transform: { rename: Record<string, string>; drop: string[] };
}

/** The names of the source's key attributes. */
export function keyAttributeNames(sourceTable: Tables["sourceTable"]): string[] {
  return [sourceTable.partitionKey.name, sourceTable.sortKey?.name].filter((k): k is string => !!k);
}

/** The backup is another table with the source's key, and no key attribute is expired, renamed or dropped. */
export function checkTables(env: Tables, keys: readonly string[], ctx: z.RefinementCtx): void {
  if (env.sourceTable.name === env.backupTable.name) {
    ctx.addIssue({
      code: "custom",
      path: ["backupTable", "name"],
      input: env.backupTable.name,
      message: "must differ from sourceTable.name (the backup cannot be its own source)",
    });
  }
  if (env.sourceTable.sortKey && env.sourceTable.sortKey.name === env.sourceTable.partitionKey.name) {
    ctx.addIssue({ code: "custom", path: ["sourceTable", "sortKey", "name"], input: env.sourceTable.sortKey.name, message: "must differ from sourceTable.partitionKey.name" });
  }
  if (env.sourceTable.ttlAttribute && keys.includes(env.sourceTable.ttlAttribute)) {
    ctx.addIssue({ code: "custom", path: ["sourceTable", "ttlAttribute"], input: env.sourceTable.ttlAttribute, message: `cannot be a key attribute (${keys.join(", ")})` });
  }
  for (const [from, to] of Object.entries(env.transform.rename)) {
    if (keys.includes(from) || keys.includes(to)) {
      ctx.addIssue({ code: "custom", path: ["transform", "rename", from], input: to, message: `cannot rename to or from a key attribute (${keys.join(", ")})` });
    }
  }
}

/** sourceTable.kmsKeyArn describes a table managed elsewhere. */
export function checkSourceTableKey(env: Tables, ctx: z.RefinementCtx): void {
  if (env.sourceTable.kmsKeyArn !== undefined && !env.sourceTable.existing) {
    ctx.addIssue({
      code: "custom",
      path: ["sourceTable", "kmsKeyArn"],
      input: env.sourceTable.kmsKeyArn,
      message: "applies only with sourceTable.existing = true (a source this stack creates uses encryption.customerManagedKey)",
    });
  }
}

/** The transform keeps every attribute apart, the TTL attribute the backup expires on, and the keys. */
export function checkTransform(env: Tables, keys: readonly string[], ctx: z.RefinementCtx): void {
  const targets = new Map<string, string>();
  for (const [from, to] of Object.entries(env.transform.rename)) {
    const other = targets.get(to);
    if (other !== undefined) {
      ctx.addIssue({ code: "custom", path: ["transform", "rename", from], input: to, message: `renames to the same name as ${other}: one would overwrite the other` });
    }
    targets.set(to, from);
  }
  const ttl = env.sourceTable.ttlAttribute;
  if (ttl && env.backupTable.expireWithSource && (ttl in env.transform.rename || env.transform.drop.includes(ttl))) {
    ctx.addIssue({
      code: "custom",
      path: ["sourceTable", "ttlAttribute"],
      input: ttl,
      message: "is renamed or dropped by transform, so the backup could not expire items on it (set backupTable.expireWithSource to false, or keep the attribute)",
    });
  }
  env.transform.drop.forEach((name, i) => {
    if (keys.includes(name)) {
      ctx.addIssue({ code: "custom", path: ["transform", "drop", i], input: name, message: `cannot drop a key attribute (${keys.join(", ")})` });
    }
  });
}

/** The retained-item marker must not collide with anything the source items or the transform use. */
export function checkRetainedAttribute(
  env: { retainedAttribute: string; sourceTable: { ttlAttribute?: string }; transform: { rename: Record<string, string>; drop: string[] } },
  keys: readonly string[],
  ctx: z.RefinementCtx,
): void {
  const marker = env.retainedAttribute;
  const issue = (path: (string | number)[], input: unknown, message: string) => ctx.addIssue({ code: "custom", path, input, message });
  if (keys.includes(marker)) {
    issue(["retainedAttribute"], marker, `cannot be a key attribute (${keys.join(", ")}): it marks retained items and must be an attribute source items never have`);
  }
  if (env.sourceTable.ttlAttribute === marker) {
    issue(["retainedAttribute"], marker, "cannot be sourceTable.ttlAttribute: it marks retained items and must be an attribute source items never have");
  }
  for (const [from, to] of Object.entries(env.transform.rename)) {
    if (from === marker || to === marker) {
      issue(["transform", "rename", from], to, `cannot rename to or from retainedAttribute (${JSON.stringify(marker)}), the attribute that marks retained items`);
    }
  }
  env.transform.drop.forEach((name, i) => {
    if (name === marker) issue(["transform", "drop", i], name, `cannot drop retainedAttribute (${JSON.stringify(marker)}), the attribute that marks retained items`);
  });
}

/** Where the backup table is, beside the source's region and account. */
export interface BackupPlacement {
  readonly region: string;
  /** From backupTable.assumeRoleArn; undefined: the source's account. */
  readonly accountId?: string;
  /** In another region or account: created through a provider of its own, called by ARN. */
  readonly remote: boolean;
}

export function backupPlacement(env: { region: string; backupTable: { region?: string; assumeRoleArn?: string } }): BackupPlacement {
  const region = env.backupTable.region ?? env.region;
  // The checks across settings also run on a configuration whose role ARN failed its own check.
  const accountId = ROLE_ARN.exec(env.backupTable.assumeRoleArn ?? "")?.[1];
  return { region, accountId, remote: region !== env.region || accountId !== undefined };
}

/** A backup in another account must be in an account the source's provider may not act in. */
export function checkBackupAccount(env: { allowedAccountIds?: string[]; region: string; backupTable: { region?: string; assumeRoleArn?: string } }, ctx: z.RefinementCtx): void {
  const { accountId } = backupPlacement(env);
  if (accountId && env.allowedAccountIds?.includes(accountId)) {
    ctx.addIssue({
      code: "custom",
      path: ["backupTable", "assumeRoleArn"],
      input: env.backupTable.assumeRoleArn,
      message: `must be a role of another account than the source's (allowedAccountIds: ${env.allowedAccountIds.join(", ")}): the backup's resource policy denies the source account's principals, so a backup in that account would deny its own deployer`,
    });
  }
}
