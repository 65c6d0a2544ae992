import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { AssetType, TerraformAsset } from "cdktf";
import { Construct } from "constructs";
import { S3Object } from "@cdktf/provider-aws/lib/s3-object";
import { contentAddressedFile } from "../../build-tools/content-addressed-file";
import { buildPythonWheel, packageVersion, type PythonWheel } from "../../build-tools/python-wheel";
import { PROJECT_ROOT } from "../project-root";

const GLUE_JOB_DIR = path.join(PROJECT_ROOT, "glue-job");
const PACKAGE_DIR = path.join(GLUE_JOB_DIR, "backup_replication");

export interface GlueScriptsOptions {
  readonly bucketName: string;
  /** Key prefix of the scripts in the bucket, e.g. `glue/`. */
  readonly prefix: string;
  /** Entry-point scripts in glue-job/, e.g. `apply_changes.py`. */
  readonly entryPoints: string[];
}

/**
 * Uploads the Glue entry points and the job code, the package glue-job/backup_replication as one wheel
 * built at synth (build-tools/python-wheel.ts), each from a stack asset with its content hash, so a
 * changed script or module is a planned change.
 */
export class GlueScripts extends Construct {
  private readonly locations = new Map<string, string>();
  /** S3 URL of the wheel: what each job gets as its Python library (glue-job.ts). */
  public readonly libraryPath: string;
  public readonly objects: S3Object[] = [];

  constructor(scope: Construct, id: string, private readonly options: GlueScriptsOptions) {
    super(scope, id);
    for (const entry of [...options.entryPoints].sort()) {
      const file = path.join(GLUE_JOB_DIR, entry);
      this.locations.set(entry, this.upload(entry.replace(/[^a-zA-Z0-9]+/g, "-"), entry, file, fs.readFileSync(file), "text/x-python"));
    }
    const wheel = jobCodeWheel();
    // pip takes the name, version and tags from the file name: the key ends with it. (The construct id
    // stays the same when the version changes.)
    const bytes = Buffer.from(wheel.bytes);
    const file = contentAddressedFile("cdktf-glue-assets", wheel.sha256Hex, wheel.fileName, bytes);
    this.libraryPath = this.upload("package-wheel", wheel.fileName, file, bytes, "application/zip");
  }

  /** S3 URL of an uploaded entry point. */
  scriptLocation(entry: string): string {
    const location = this.locations.get(entry);
    if (!location) throw new Error(`No Glue script ${entry} was uploaded`);
    return location;
  }

  /** Uploads `file` (whose bytes are `contents`) as <prefix><name>; returns its S3 URL. */
  private upload(id: string, name: string, file: string, contents: Buffer, contentType: string): string {
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
        contentType,
      }),
    );
    return `s3://${this.options.bucketName}/${key}`;
  }
}

let built: PythonWheel | undefined;

/**
 * The wheel of the jobs' package, glue-job/backup_replication (its version is the package's
 * __version__): built once per process, since every stack of a synth ships the same one.
 */
export function jobCodeWheel(): PythonWheel {
  built ??= buildPythonWheel({
    packageDir: PACKAGE_DIR,
    version: packageVersion(PACKAGE_DIR),
    summary: "The AWS Glue jobs of the DynamoDB backup replication",
  });
  return built;
}
