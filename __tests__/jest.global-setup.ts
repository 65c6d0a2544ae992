/** Starts the services every suite may share (jest runs this once, before any test file). */
import * as path from "node:path";
import { ENDPOINT_VARIABLE, spawnDynamoDbLocal } from "../local-aws/dynamodb-local-server";

export default async function globalSetup(): Promise<void> {
  const server = await spawnDynamoDbLocal(path.resolve(__dirname, ".."));
  // Workers start after this returns and inherit the variable; the teardown reads the handle.
  process.env[ENDPOINT_VARIABLE] = server.endpoint;
  (globalThis as { dynamoDbLocal?: typeof server }).dynamoDbLocal = server;
}
