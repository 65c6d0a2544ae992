import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/**
 * A file named `name` holding `contents` for TerraformAsset, which copies it into the stack's assets:
 * written once under the temporary folder `<area>/<hash>/`, so the same bytes are never written twice
 * and a synth running beside another never reads a half-written file.
 */
export function contentAddressedFile(area: string, hash: string, name: string, contents: Uint8Array): string {
  const file = path.join(os.tmpdir(), area, hash, name);
  if (!fs.existsSync(file)) {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const partial = `${file}.${process.pid}.tmp`;
    fs.writeFileSync(partial, contents);
    fs.renameSync(partial, file);
  }
  return file;
}
