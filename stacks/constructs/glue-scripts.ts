import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object";
import { PROJECT_ROOT } from "../project-root";

const GLUE_JOB_DIR = path.join(PROJECT_ROOT, "glue-job");
const LIBRARY_DIR = path.join(GLUE_JOB_DIR, "lib");

export interface GlueScriptsOptions {
  readonly bucketName: string;
  /** Key prefix of the scripts in the bucket, e.g. `glue/`. */
  readonly prefix: string;
  /** Entry-point scripts in glue-job/, e.g. `apply_changes.py`. */
  readonly entryPoints: string[];
}

/**
 * Uploads the Glue entry points and the shared replication modules (glue-job/lib/*.py) to S3,
 * each from a stack asset with its content hash, so a changed script is a planned change.
 */
export class GlueScripts extends Construct {
  private readonly locations = new Map<string, string>();
  /** `--extra-py-files` value: the S3 URLs of every shared module, comma-separated. */
  public readonly libraryPath: string;
  public readonly objects: S3Object[] = [];

  constructor(scope: Construct, id: string, private readonly options: GlueScriptsOptions) {
    super(scope, id);
    for (const entry of [...options.entryPoints].sort()) {
      this.upload(path.join(GLUE_JOB_DIR, entry), entry);
    }
    const modules = fs
      .readdirSync(LIBRARY_DIR)
      .filter((file) => file.endsWith(".py"))
      .sort();
    this.libraryPath = modules.map((file) => this.upload(path.join(LIBRARY_DIR, file), `lib/${file}`)).join(",");
  }

  /** S3 URL of an uploaded entry point. */
  scriptLocation(entry: string): string {
    const location = this.locations.get(entry);
    if (!location) throw new Error(`No Glue script ${entry} was uploaded`);
    return location;
  }

  private upload(file: string, name: string): string {
    const contents = fs.readFileSync(file);
    const id = name.replace(/[^a-zA-Z0-9]+/g, "-");
    const asset = new TerraformAsset(this, `${id}-asset`, {
      path: file,
      type: AssetType.FILE,
      assetHash: createHash("sha256").update(contents).digest("hex"),
    });
    const key = `${this.options.prefix}${name}`;
    this.objects.push(
      new S3Object(this, id, {
        bucket: this.options.bucketName,
        key,
        source: asset.path,
        sourceHash: createHash("md5").update(contents).digest("hex"),
        contentType: "text/x-python",
      }),
    );
    const location = `s3://${this.options.bucketName}/${key}`;
    this.locations.set(name, location);
    return location;
  }
}
