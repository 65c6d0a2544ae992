import * as fs from "node:fs";
import * as path from "node:path";
import { type App, TerraformStack } from "cdktf";
import { renderReviewSummary, type TerraformJson } from "./render-summary";

export const REVIEW_SUMMARY_FILE = "REVIEW.md";

/** After app.synth(): writes REVIEW.md beside each stack's Terraform (JSON or HCL alike). */
export function writeReviewSummaries(app: App): void {
  for (const stack of app.node.children.filter((child): child is TerraformStack => child instanceof TerraformStack)) {
    const stackDir = path.join(app.outdir, app.manifest.forStack(stack).workingDirectory);
    const tf = stack.toTerraform() as TerraformJson;
    const summary = renderReviewSummary(stack.node.id, tf, (asset) => fs.readFileSync(path.join(stackDir, asset)));
    fs.writeFileSync(path.join(stackDir, REVIEW_SUMMARY_FILE), summary);
  }
}
