/** Stops what jest.global-setup.ts started, whether the tests passed or not. */
import type { DynamoDbLocalServer } from "../local-aws/dynamodb-local-server";

export default async function globalTeardown(): Promise<void> {
  await (globalThis as { dynamoDbLocal?: DynamoDbLocalServer }).dynamoDbLocal?.stop();
}
