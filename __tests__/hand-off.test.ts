import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { referencedFiles, synthesizeEnvironment, type SynthesizedStack } from "./helpers/synth";

describe("hand-off: the stack folder is self-contained", () => {
  let stack: SynthesizedStack;
  beforeAll(() => {
    stack = synthesizeEnvironment({}, "handoff");
  });

  test("copied elsewhere, every file it names exists relative to it", () => {
    const elsewhere = fs.mkdtempSync(path.join(os.tmpdir(), "platform-team-"));
    fs.cpSync(stack.dir, elsewhere, { recursive: true });
    const json = JSON.parse(fs.readFileSync(path.join(elsewhere, "cdk.tf.json"), "utf8"));
    const files = [...referencedFiles(json.resource)];
    expect(files.length).toBeGreaterThanOrEqual(3); // the zip and the two entry points at least
    for (const file of files) expect({ file, exists: fs.existsSync(path.join(elsewhere, file)) }).toEqual({ file, exists: true });
    const onDisk = fs.readdirSync(path.join(elsewhere, "assets"), { recursive: true, encoding: "utf8" }).filter((f) => fs.statSync(path.join(elsewhere, "assets", f)).isFile());
    expect(onDisk.map((f) => `assets/${f}`).sort()).toEqual(files.sort());
  });

  test("REVIEW.md lists resources by type, every IAM grant, public exposure and asset hashes", () => {
    const review = fs.readFileSync(path.join(stack.dir, "REVIEW.md"), "utf8").split("\n");
    for (const [type, resources] of Object.entries(stack.json.resource)) {
      expect(review).toContain(`| \`${type}\` | ${Object.keys(resources).length} |`);
    }
    expect(review).toContain("| api-pagos-replication-change-trigger | `s3:PutObject` | `${aws_s3_bucket." + stack.one("aws_s3_bucket").name + ".arn}/changes/*` |  |");
    expect(review).toContain("| api-pagos-replication-change-trigger | `dynamodb:ListStreams` | `*` |  |");
    expect(review).toContain("None: no resource policy allows `*`, and every S3 bucket blocks public access.");
    // Every Glue job with its settings, verify and restore beside full-copy.
    const security = stack.one("aws_glue_security_configuration").name;
    expect(review).toContain(`| api-pagos-replication-full-copy | glueetl | 2 × G.1X | 480 | 0 | \`${security}\` | \`cron(0 3 ? * SUN *)\` |`);
    expect(review).toContain(`| api-pagos-replication-verify | glueetl | 2 × G.1X | 480 | 0 | \`${security}\` | \`cron(0 5 ? * SUN *)\` |`);
    expect(review).toContain(`| api-pagos-replication-restore | glueetl | 2 × G.1X | 480 | 0 | \`${security}\` | \`on demand\` |`);
    const fn = stack.one("aws_lambda_function").body;
    const zipHash = createHash("sha256").update(fs.readFileSync(path.join(stack.dir, fn.filename))).digest("hex");
    expect(review).toContain(`| \`${fn.filename}\` | \`${zipHash}\` |`);
  });
});
