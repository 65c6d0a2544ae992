import { parse } from "@cdktf/hcl2json";

/** A configuration file parsed by HashiCorp's HCL library (hcl2json, compiled to WebAssembly); throws on invalid HCL. */
export function parseHcl(filename: string, text: string): Promise<Record<string, any>> {
  return parse(filename, text);
}

/**
 * The argument of a `${jsonencode(...)}` string, as hcl2json reads it: the JSON document it
 * encodes, with each reference as `${type.name.attribute}`.
 */
export async function jsonencodeArgument(value: string): Promise<unknown> {
  const match = /^\$\{jsonencode\(([\s\S]*)\)\}$/.exec(value);
  if (!match) throw new Error(`not a \${jsonencode(...)} string: ${value}`);
  return (await parseHcl("jsonencode.tf", `value = ${match[1]}\n`)).value;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Where a configuration in Terraform's JSON syntax (cdk.tf.json) and the same configuration in HCL,
 * as hcl2json reads it, say different things: one line per differing value, none when they agree.
 * Only the differences in how the two syntaxes write the same thing are set aside:
 * - hcl2json gives every block as a list of bodies, and each label as one more object level; the JSON
 *   syntax writes a single block (and each labelled resource, output or backend) as one object;
 * - the JSON syntax writes depends_on as bare addresses where HCL has references (`${aws_x.y}` in hcl2json);
 * - "//" properties are comments in the JSON syntax (cdktf's metadata).
 * An expression is compared as text: hcl2json writes an HCL expression `aws_x.y.arn` as `${aws_x.y.arn}`,
 * which is how the JSON syntax writes it too.
 */
export function configurationDifferences(json: unknown, hcl: unknown, at = ""): string[] {
  if (isObject(json) && Array.isArray(hcl) && hcl.length === 1 && isObject(hcl[0])) return configurationDifferences(json, hcl[0], at);
  if (at.endsWith(".depends_on") && Array.isArray(hcl)) {
    hcl = hcl.map((ref) => (typeof ref === "string" ? ref.replace(/^\$\{([^{}]*)\}$/, "$1") : ref));
  }
  if (Array.isArray(json) && Array.isArray(hcl)) {
    if (json.length !== hcl.length) return [`${at}: JSON has ${json.length} items, HCL ${hcl.length}: JSON ${JSON.stringify(json)}, HCL ${JSON.stringify(hcl)}`];
    return json.flatMap((item, i) => configurationDifferences(item, hcl[i], `${at}[${i}]`));
  }
  if (isObject(json) && isObject(hcl)) {
    const keys = [...new Set([...Object.keys(json), ...Object.keys(hcl)])].filter((key) => key !== "//").sort();
    return keys.flatMap((key) => {
      if (!(key in json)) return [`${at}.${key}: only in HCL: ${JSON.stringify(hcl[key])}`];
      if (!(key in hcl)) return [`${at}.${key}: only in JSON: ${JSON.stringify(json[key])}`];
      return configurationDifferences(json[key], hcl[key], `${at}.${key}`);
    });
  }
  return Object.is(json, hcl) ? [] : [`${at}: JSON ${JSON.stringify(json)}, HCL ${JSON.stringify(hcl)}`];
}
