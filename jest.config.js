/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/__tests__"],
  testMatch: ["**/*.test.ts"],
  transform: {
    // Type-checking is `tsc --noEmit` in `npm test`; jest only transpiles.
    "^.+\\.ts$": ["ts-jest", { diagnostics: false }],
  },
  // One DynamoDB Local for the whole run (a JVM takes seconds to start), stopped whatever happened.
  globalSetup: "<rootDir>/__tests__/jest.global-setup.ts",
  globalTeardown: "<rootDir>/__tests__/jest.global-teardown.ts",
  // The heavy suites wait on other processes (DynamoDB Local, python jobs, the Lambda's node): two
  // workers on 2 cores measured 140 s for the whole run against 200 s in one.
  maxWorkers: 2,
  testTimeout: 60000,
};
