import * as fs from "node:fs";
import * as path from "node:path";
import { type App, TerraformStack } from "cdktf";

const CONFIGURATION_FILES = { json: "cdk.tf.json", hcl: "cdk.tf" } as const;

/**
 * After app.synth(): deletes the other format's configuration file from each stack folder, so that
 * `cdktf synth` after `cdktf synth --hcl` (or the reverse) leaves one configuration. Terraform loads
 * every .tf and .tf.json file of a folder, so both would declare each resource twice. Returns one
 * line per file removed, for the caller to print.
 */
export function removeOtherConfigurationFormat(app: App): string[] {
  const [written, stale] = app.hclOutput ? [CONFIGURATION_FILES.hcl, CONFIGURATION_FILES.json] : [CONFIGURATION_FILES.json, CONFIGURATION_FILES.hcl];
  const removed: string[] = [];
  for (const stack of app.node.children.filter((child): child is TerraformStack => child instanceof TerraformStack)) {
    const file = path.join(app.outdir, app.manifest.forStack(stack).workingDirectory, stale);
    if (!fs.existsSync(file)) continue;
    fs.rmSync(file);
    removed.push(`Removed ${path.relative(process.cwd(), file)}: this synth wrote ${written} beside it, and Terraform would load both.`);
  }
  return removed;
}
