/** Field schemas that several sections of the configuration use. */
import { z } from "zod";

const TABLE_NAME = /^[a-zA-Z0-9_.-]{3,255}$/;
const REGION = /^[a-z]{2}(-[a-z]+)+-\d{1,2}$/;
const ATTRIBUTE_NAME = /^.{1,255}$/s;

export const int = (min: number, max: number) =>
  z
    .number({ error: `must be a whole number from ${min} to ${max}` })
    .int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be a whole number from ${min} to ${max}` })
    .max(max, { error: `must be a whole number from ${min} to ${max}` });

export const oneOf = <const T extends readonly [string, ...string[]]>(values: T) =>
  z.enum(values, { error: `must be one of ${values.map((v) => JSON.stringify(v)).join(", ")}` });

export const tableName = z.string({ error: "must be a string" }).regex(TABLE_NAME, {
  error: "must be 3 to 255 characters of a-z, A-Z, 0-9, '_', '-' and '.' (a DynamoDB table name)",
});

export const attributeName = z
  .string({ error: "must be a string" })
  .regex(ATTRIBUTE_NAME, { error: "must be 1 to 255 characters (a DynamoDB attribute name)" });

export const required = (what: string) => ({
  error: (issue: { input: unknown }) => (issue.input === undefined ? `is required: ${what}` : `must be ${what}`),
});

/** An AWS region name (the environment's, or the state bucket's). */
export const regionName = z.string().regex(REGION, { error: "must be an AWS region name such as us-east-1 or eu-west-3" });
