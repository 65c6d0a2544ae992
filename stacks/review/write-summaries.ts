import * as fs from "node:fs";
import * as path from "node:path";
import { type App, TerraformStack } from "cdktf";
import { renderReviewSummary } from "./render-summary";
import type { TerraformJson } from "./terraform-json";

export const REVIEW_SUMMARY_FILE = "REVIEW.md";

/** After app.synth(): writes REVIEW.md beside each stack's Terraform (JSON or HCL alike). */
export function writeReviewSummaries(app: App): void {
  for (const stack of app.node.children.filter((child): child is TerraformStack => child instanceof TerraformStack)) {
    const manifest = app.manifest.forStack(stack);
    const stackDir = path.join(app.outdir, manifest.workingDirectory);
    // The JSON just written is the cheapest source; HCL output has none, so resolve the stack again.
    const tf = (app.hclOutput ? stack.toTerraform() : JSON.parse(fs.readFileSync(path.join(app.outdir, manifest.synthesizedStackPath), "utf8"))) as TerraformJson;
    const summary = renderReviewSummary(stack.node.id, tf, (asset) => fs.readFileSync(path.join(stackDir, asset)));
    fs.writeFileSync(path.join(stackDir, REVIEW_SUMMARY_FILE), summary);
  }
}
