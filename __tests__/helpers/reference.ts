/**
 * Externally authored reference data the tests check against, kept in the repository
 * (__tests__/reference/, origin and license of each file in SOURCES.md there).
 */
import * as path from "node:path";

export const REFERENCE_DIR = path.join(__dirname, "..", "reference");

/** `terraform providers schema -json` of hashicorp/aws 6.25.0, the version @cdktf/provider-aws 21.22.1 generates from. */
export const PROVIDER_SCHEMA_FILE = path.join(REFERENCE_DIR, "aws-provider-schema-6.25.0.json");
/** Every IAM action name of the services the stack grants. */
export const IAM_ACTIONS_FILE = path.join(REFERENCE_DIR, "iam-actions.json");
/** DynamoDB stream events written by AWS (docs, aws-lambda-go, aws-lambda-java-libs). */
export const STREAM_EVENTS_DIR = path.join(REFERENCE_DIR, "ddb-stream-events");
/** EventBridge events as delivered to a Lambda target (the sweep's triggers). */
export const EVENTBRIDGE_DIR = path.join(REFERENCE_DIR, "eventbridge");
/** The example invocation record Lambda sends to a stream event source's on-failure destination (AWS docs). */
export const ON_FAILURE_RECORD_FILE = path.join(REFERENCE_DIR, "lambda-on-failure", "aws-docs-invocation-record.json");
