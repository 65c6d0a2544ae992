import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { buildApp, synthesize } from "../stacks/app";
import { parseProjectConfig } from "../stacks/config/load";
import type { ProjectConfigInput } from "../stacks/config/schema";
import { validateTerraformJson } from "./helpers/provider-schema";
import { synthesizeEnvironment } from "./helpers/synth";
import { TWO_ENVIRONMENTS } from "./helpers/variants";


/** A project folder holding only a replication.config.json. */
function projectWith(config: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "replication-envs-"));
  fs.writeFileSync(path.join(dir, "replication.config.json"), JSON.stringify(config));
  return dir;
}

function synthProject(config: unknown, env: NodeJS.ProcessEnv = {}): { outdir: string; stacks: string[] } {
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), "replication-envs-out-"));
  synthesize(buildApp({ projectRoot: projectWith(config), outdir, env }));
  return { outdir, stacks: fs.readdirSync(path.join(outdir, "stacks")).sort() };
}

const readStack = (outdir: string, name: string) => JSON.parse(fs.readFileSync(path.join(outdir, "stacks", name, "cdk.tf.json"), "utf8"));

describe("environments", () => {
  let outdir: string;
  let stacks: string[];
  beforeAll(() => {
    ({ outdir, stacks } = synthProject(TWO_ENVIRONMENTS));
  });

  test("each environment is its own stack, and each validates against the provider schema", () => {
    expect(stacks).toEqual(["prod", "staging"]);
    for (const name of stacks) expect(validateTerraformJson(readStack(outdir, name))).toEqual([]);
  });

  test("each stack has its own names, region, tags, sizes and backend", () => {
    const staging = readStack(outdir, "staging");
    const prod = readStack(outdir, "prod");
    expect(staging.provider.aws[0]).toMatchObject({ region: "eu-west-1" });
    expect(staging.provider.aws[0].default_tags[0].tags).toEqual({
      application: "dynamodb-replication",
      environment: "staging",
      "managed-by": "terraform",
      "cost-center": "payments",
    });
    expect(prod.provider.aws[0].allowed_account_ids).toEqual(["111122223333"]);
    const names = (tf: any) => Object.values(tf.resource.aws_dynamodb_table).map((t: any) => t.name).sort();
    expect(names(staging)).toEqual(["api-pagos-staging", "api-pos-backup-staging"]);
    expect(names(prod)).toEqual(["api-pagos", "api-pos-backup"]);
    expect((Object.values(staging.resource.aws_lambda_function)[0] as any).memory_size).toBe(128);
    expect((Object.values(staging.resource.aws_lambda_function)[0] as any).function_name).toBe("payments-staging-change-trigger");
    const fullCopy = (tf: any) => Object.values(tf.resource.aws_glue_job).find((j: any) => j.name.endsWith("full-copy")) as any;
    expect(fullCopy(prod).number_of_workers).toBe(10);
    expect(fullCopy(staging).number_of_workers).toBe(2);
  });

  test("S3 backend: encrypted, S3 lockfile, key per environment, region of the environment by default", () => {
    expect(readStack(outdir, "staging").terraform.backend).toEqual({
      s3: {
        bucket: "acme-terraform-state",
        key: "staging/terraform.tfstate",
        region: "eu-west-1",
        encrypt: true,
        kms_key_id: "alias/terraform-state",
        use_lockfile: true,
      },
    });
  });

  test("Terraform Cloud backend: organization and workspace by name, or by tags with a hostname", () => {
    expect(readStack(outdir, "prod").terraform.cloud).toEqual({ organization: "acme", workspaces: { name: "payments-replication-prod" } });
    const tagged = synthesizeEnvironment({ backend: { type: "cloud", organization: "acme", workspaceTags: ["replication", "prod"], hostname: "tfe.example.com" } });
    expect(tagged.json.terraform.cloud).toEqual({ organization: "acme", hostname: "tfe.example.com", workspaces: { tags: ["replication", "prod"] } });
    expect(tagged.json.terraform.backend).toBeUndefined();
  });

  test("REPLICATION_ENVIRONMENT selects environments; an unknown name lists the known ones", () => {
    expect(synthProject(TWO_ENVIRONMENTS, { REPLICATION_ENVIRONMENT: "prod" }).stacks).toEqual(["prod"]);
    expect(() => synthProject(TWO_ENVIRONMENTS, { REPLICATION_ENVIRONMENT: "qa" })).toThrow(
      'REPLICATION_ENVIRONMENT names unknown environment "qa"; known: staging, prod',
    );
  });

  test("the provider version constraint can be widened", () => {
    const stack = synthesizeEnvironment({ providerVersion: ">= 6.25, < 7.0" });
    expect(stack.json.terraform.required_providers.aws).toEqual({ source: "hashicorp/aws", version: ">= 6.25, < 7.0" });
  });
});

describe("backend and environment settings are checked at synth", () => {
  const reject = (config: ProjectConfigInput) => () => parseProjectConfig(config);
  test.each<[string, ProjectConfigInput, string]>([
    ["s3 without a bucket", { environments: { prod: { backend: { type: "s3" } as never } } }, "environments.prod.backend.bucket: is required: the name of the S3 bucket that holds the state"],
    ["cloud without an organization", { environments: { prod: { backend: { type: "cloud", workspace: "w" } as never } } }, "environments.prod.backend.organization: is required: the Terraform Cloud / HCP Terraform organization"],
    ["cloud with both workspace and tags", { environments: { prod: { backend: { type: "cloud", organization: "acme", workspace: "w", workspaceTags: ["t"] } } } }, "environments.prod.backend: needs exactly one of workspace or workspaceTags"],
    ["cloud with neither workspace nor tags", { environments: { prod: { backend: { type: "cloud", organization: "acme" } } } }, "environments.prod.backend: needs exactly one of workspace or workspaceTags"],
    ["unknown backend type", { environments: { prod: { backend: { type: "consul" } as never } } }, 'environments.prod.backend.type = "consul": must be "local", "s3" or "cloud"'],
    ["a setting of another backend type", { environments: { prod: { backend: { type: "local", bucket: "x" } as never } } }, 'environments.prod.backend: unknown setting "bucket"'],
    ["an absolute local state path", { environments: { prod: { backend: { type: "local", path: "/var/state.tfstate" } } } }, 'environments.prod.backend.path = "/var/state.tfstate": must be a relative path'],
    ["a malformed provider constraint", { environments: { prod: { providerVersion: "latest" } } }, 'environments.prod.providerVersion = "latest": must be a Terraform version constraint'],
    ["an empty account list (which would allow any account, yet count as separate)", { environments: { prod: { allowedAccountIds: [] } } }, "environments.prod.allowedAccountIds = []: must name at least one account (leave it out to allow any)"],
    ["a malformed account id", { environments: { prod: { allowedAccountIds: ["12345"] } } }, 'environments.prod.allowedAccountIds.0 = "12345": must be a 12-digit AWS account ID'],
    ["two environments managing the same tables", { environments: { a: {}, b: { namePrefix: "other-prefix" } } }, 'environments.b.sourceTable.name = "api-pagos": is also used by environment "a" in us-east-1'],
    ["no environment", { environments: {} }, "environments: must declare at least one environment"],
    // IAM role names and CloudWatch dashboards are account-wide: another region does not keep them apart.
    [
      "the same namePrefix in two regions of one account",
      { environments: { a: {}, b: { region: "eu-west-1" } } },
      'environments.b.namePrefix = "api-pagos-replication": is also used by environment "a" in us-east-1: its IAM roles and its CloudWatch dashboard are named account-wide',
    ],
    [
      "a provider constraint that allows a version older than the project is proven with",
      { environments: { prod: { providerVersion: "~> 5.50" } } },
      'environments.prod.providerVersion = "~> 5.50": allows hashicorp/aws 5.50.0, older than 5.100.0, the oldest version this project\'s Terraform is validated, planned and applied with',
    ],
    [
      "a provider constraint without a lower bound",
      { environments: { prod: { providerVersion: "< 7.0" } } },
      'environments.prod.providerVersion = "< 7.0": allows hashicorp/aws 0.0.0, older than 5.100.0',
    ],
    [
      "a provider constraint that allows a version that does not know the runtime",
      { environments: { prod: { providerVersion: ">= 6.0", lambda: { runtime: "nodejs24.x" } } } },
      'environments.prod.providerVersion = ">= 6.0": allows hashicorp/aws 6.0.0, older than 6.20.0, the first that accepts lambda.runtime "nodejs24.x"',
    ],
  ])("%s", (_label, config, message) => {
    expect(reject(config)).toThrow(message);
  });

  test("environments in different regions may reuse table names; with their own namePrefix nothing clashes", () => {
    const config = parseProjectConfig({ environments: { a: {}, b: { region: "eu-west-1", namePrefix: "payments-eu" } } });
    expect(Object.keys(config.environments)).toEqual(["a", "b"]);
  });

  test.each(["6.25.0", "~> 6.25", ">= 6.20, < 7.0", "> 6.20.0", "= 6.20.0"])("the constraint %s allows nodejs24.x", (providerVersion) => {
    expect(() => parseProjectConfig({ environments: { prod: { providerVersion, lambda: { runtime: "nodejs24.x" } } } })).not.toThrow();
  });

  test.each<[string, string]>([
    ["= 6.20.0-beta1", "allows hashicorp/aws 6.20.0-beta1, older than 6.20.0"],
    ["> 6.19.99", "allows hashicorp/aws versions just above 6.19.99, older than 6.20.0"],
  ])("with nodejs24.x, the constraint %s is refused: it %s", (providerVersion, message) => {
    expect(() => parseProjectConfig({ environments: { prod: { providerVersion, lambda: { runtime: "nodejs24.x" } } } })).toThrow(message);
  });

  test.each([">= 6.20.0-beta1", ">= 6.20.0-beta1, >= 6.20.0", ">= 6.20.0, >= 6.20.0-beta1", "~> 6", "6.20"])("with nodejs24.x, the constraint %s is allowed", (providerVersion) => {
    const message = () => parseProjectConfig({ environments: { prod: { providerVersion, lambda: { runtime: "nodejs24.x" } } } });
    if (providerVersion === "~> 6") expect(message).toThrow("allows hashicorp/aws 6.0.0, older than 6.20.0");
    else expect(message).not.toThrow();
  });

  test.each(["=> 6.25", ">=  6.25", "~ 6.25", "== 6.25", "<> 6.25", ">= 6.25, => 5.0"])("%s is not a Terraform version constraint", (providerVersion) => {
    expect(() => parseProjectConfig({ environments: { prod: { providerVersion } } })).toThrow("must be a Terraform version constraint");
  });

  test.each(["5.100.0", "~> 5.100", ">= 5.100.0, != 6.0.0"])("the constraint %s allows the default configuration", (providerVersion) => {
    expect(() => parseProjectConfig({ environments: { prod: { providerVersion } } })).not.toThrow();
  });

  test("environments in separate accounts may reuse names", () => {
    const config = parseProjectConfig({ environments: { a: { allowedAccountIds: ["111111111111"] }, b: { allowedAccountIds: ["222222222222"] } } });
    expect(Object.keys(config.environments)).toEqual(["a", "b"]);
  });
});
