import { buildApp, synthesize } from "./stacks/app";
import { ConfigError } from "./stacks/config/load";
import { PROJECT_ROOT } from "./stacks/project-root";

try {
  synthesize(buildApp({ projectRoot: PROJECT_ROOT }));
} catch (error) {
  // A configuration mistake is the user's to fix: the message says what and where, a stack trace adds nothing.
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exitCode = 1;
}
