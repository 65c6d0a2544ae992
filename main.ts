// Source maps only improve stack traces, and with them on Node parses the map of every module it
// loads: a third of synth time. Off before anything else loads, hence require below.
process.setSourceMapsEnabled(false);

const { buildApp, synthesize } = require("./stacks/app") as typeof import("./stacks/app");
synthesize(buildApp({ projectRoot: __dirname }));
