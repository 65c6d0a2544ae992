import { createHash } from "node:crypto";
import { AssetType, TerraformAsset } from "cdktf";
import type { Construct } from "constructs";
import { bundleFunction, type BundleOptions } from "./bundle";
import { contentAddressedFile } from "./content-addressed-file";

export interface BundledFunctionAsset {
  readonly asset: TerraformAsset;
  /** base64 SHA-256 of the zip: `source_code_hash`. */
  readonly sha256Base64: string;
  readonly handler: string;
}

/** Bundles a handler and hands the zip to Terraform as a stack asset named `<zipName>`. */
export function bundledFunctionAsset(scope: Construct, id: string, zipName: string, options: BundleOptions): BundledFunctionAsset {
  const bundle = bundleFunction(options);
  const hash = createHash("sha256").update(bundle.zip).digest("hex");
  const zipPath = contentAddressedFile("cdktf-function-bundles", hash, zipName, bundle.zip);
  const asset = new TerraformAsset(scope, id, { path: zipPath, type: AssetType.FILE, assetHash: hash });
  return { asset, sha256Base64: bundle.sha256Base64, handler: bundle.handler };
}
