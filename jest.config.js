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
  testTimeout: 60000,
};
