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

/**
 * One item of an HCL body as the native syntax writes it: an argument `name = expression`, or a
 * block `name "label" ... { body }`. hcl2json loses this distinction (a list of blocks and a list
 * of objects read alike); Terraform does not: a block written as an argument is `Unsupported argument`.
 */
export type HclItem =
  | { kind: "argument"; name: string; line: number }
  | { kind: "block"; name: string; labels: string[]; line: number; body: HclItem[] };

/**
 * The arguments and blocks of an HCL file, nested as written, with their line numbers. Expressions
 * are skipped, not read: strings with `${...}`/`%{...}` templates (which may hold strings and braces
 * of their own), heredocs, comments and brackets, so that a brace or `=` inside one is no structure.
 * Run it on text that hcl2json accepts: it reports malformed HCL only roughly.
 */
export function hclStructure(text: string): HclItem[] {
  let pos = 0;
  const lineAt = (at: number) => text.slice(0, at).split("\n").length;
  const fail = (what: string): never => {
    throw new Error(`line ${lineAt(pos)}: ${what}, at ${JSON.stringify(text.slice(pos, pos + 30))}`);
  };
  const skipComment = (): boolean => {
    if (text[pos] === "#" || text.startsWith("//", pos)) {
      while (pos < text.length && text[pos] !== "\n") pos++;
      return true;
    }
    if (text.startsWith("/*", pos)) {
      const end = text.indexOf("*/", pos + 2);
      if (end < 0) fail("unterminated comment");
      pos = end + 2;
      return true;
    }
    return false;
  };
  const skipSpace = (newlines: boolean) => {
    while (pos < text.length) {
      const c = text[pos];
      if (c === " " || c === "\t" || c === "\r" || (newlines && c === "\n")) pos++;
      else if (!skipComment()) return;
    }
  };
  const identifier = (): string | undefined => {
    const match = /^[A-Za-z_][A-Za-z0-9_-]*/.exec(text.slice(pos, pos + 200));
    if (match) pos += match[0].length;
    return match?.[0];
  };
  const skipQuoted = () => {
    pos++; // the opening quote
    while (pos < text.length) {
      const c = text[pos];
      if (c === "\\") pos += 2;
      else if (text.startsWith("$${", pos) || text.startsWith("%%{", pos)) pos += 3;
      else if ((c === "$" || c === "%") && text[pos + 1] === "{") {
        pos += 2;
        skipExpression(false);
        if (text[pos] !== "}") fail("unterminated template interpolation");
        pos++;
      } else if (c === '"') return void pos++;
      else if (c === "\n") fail("newline in a quoted string");
      else pos++;
    }
    fail("unterminated string");
  };
  const skipHeredoc = () => {
    const match = /^<<-?([A-Za-z_][A-Za-z0-9_-]*)\r?\n/.exec(text.slice(pos, pos + 200)) ?? fail("malformed heredoc");
    pos += match[0].length;
    while (pos < text.length) {
      const end = text.indexOf("\n", pos) < 0 ? text.length : text.indexOf("\n", pos);
      const line = text.slice(pos, end);
      if (line.trim() === match[1]) return void (pos = pos + line.indexOf(match[1]) + match[1].length);
      pos = end + 1;
    }
    fail(`heredoc ${match[1]} not closed`);
  };
  /** To the end of an expression: a newline outside brackets (if `atNewline`), or an unmatched `}`. */
  const skipExpression = (atNewline: boolean) => {
    let depth = 0;
    while (pos < text.length) {
      const c = text[pos];
      if (c === "\n" && depth === 0 && atNewline) return;
      if (c === "}" && depth === 0) return;
      if (c === '"') skipQuoted();
      else if (text.startsWith("<<", pos)) skipHeredoc();
      else if (!skipComment()) {
        if (c === "(" || c === "[" || c === "{") depth++;
        else if (c === ")" || c === "]" || c === "}") depth--;
        pos++;
      }
    }
    if (depth !== 0) fail("unbalanced brackets");
  };
  const body = (nested: boolean): HclItem[] => {
    const items: HclItem[] = [];
    for (;;) {
      skipSpace(true);
      if (pos >= text.length) return nested ? fail("block not closed") : items;
      if (text[pos] === "}") return nested ? items : fail("unmatched }");
      const line = lineAt(pos);
      const name = identifier() ?? fail("expected an argument or a block");
      skipSpace(false);
      if (text[pos] === "=" && text[pos + 1] !== "=") {
        pos++;
        skipExpression(true);
        items.push({ kind: "argument", name, line });
        continue;
      }
      const labels: string[] = [];
      for (;;) {
        if (text[pos] === '"') {
          const start = pos;
          skipQuoted();
          labels.push(JSON.parse(text.slice(start, pos)));
        } else {
          const label = identifier();
          if (label === undefined) break;
          labels.push(label);
        }
        skipSpace(false);
      }
      if (text[pos] !== "{") fail(`expected "=" or "{" after ${name}`);
      pos++;
      const inner = body(true);
      pos++; // the closing brace
      items.push({ kind: "block", name, labels, line, body: inner });
    }
  };
  return body(false);
}

/**
 * What may be written where: which names are arguments and which are blocks (and their own shapes).
 * `open`: names not listed are not checked (a backend's settings, `locals`, a provisioner).
 */
interface Shape {
  readonly arguments: readonly string[];
  readonly blocks: Readonly<Record<string, Shape>>;
  readonly open?: boolean;
}

const OPEN: Shape = { arguments: [], blocks: {}, open: true };
const CONDITION: Shape = { arguments: ["condition", "error_message"], blocks: {} };
/** Terraform's own blocks (https://developer.hashicorp.com/terraform/language/meta-arguments/lifecycle). */
const LIFECYCLE: Shape = {
  arguments: ["create_before_destroy", "prevent_destroy", "ignore_changes", "replace_triggered_by"],
  blocks: { precondition: CONDITION, postcondition: CONDITION },
};
const META_ARGUMENTS = ["count", "for_each", "depends_on", "provider"];
const OUTPUT: Shape = { arguments: ["value", "description", "sensitive", "ephemeral", "depends_on"], blocks: { precondition: CONDITION } };
const TERRAFORM: Shape = {
  arguments: ["required_version", "experiments"],
  blocks: {
    required_providers: OPEN,
    backend: OPEN,
    cloud: { arguments: ["organization", "hostname", "token"], blocks: { workspaces: { arguments: ["name", "tags", "project"], blocks: {} } } },
    provider_meta: OPEN,
  },
};

interface SchemaBlockLike {
  attributes?: Record<string, unknown>;
  block_types?: Record<string, { block: SchemaBlockLike }>;
}
interface ProviderSchemaLike {
  provider: { block: SchemaBlockLike };
  resource_schemas: Record<string, { block: SchemaBlockLike }>;
  data_source_schemas: Record<string, { block: SchemaBlockLike }>;
}

function schemaShape(block: SchemaBlockLike, extra: Partial<Shape> = {}): Shape {
  const blocks = Object.fromEntries(Object.entries(block.block_types ?? {}).map(([name, type]) => [name, schemaShape(type.block)]));
  return { arguments: [...Object.keys(block.attributes ?? {}), ...(extra.arguments ?? [])], blocks: { ...blocks, ...extra.blocks } };
}

function checkBody(items: HclItem[], shape: Shape, at: string, out: string[]): void {
  for (const item of items) {
    const where = `${at}${at ? "." : ""}${item.name}`;
    if (item.kind === "argument") {
      if (item.name in shape.blocks) out.push(`${where} (line ${item.line}): a block, written as an argument "${item.name} = ..."`);
      else if (!shape.open && !shape.arguments.includes(item.name)) out.push(`${where} (line ${item.line}): unknown argument`);
      continue;
    }
    if (item.name === "dynamic" && item.labels.length === 1 && item.labels[0] in shape.blocks) {
      const content = shape.blocks[item.labels[0]];
      checkBody(item.body, { arguments: ["for_each", "iterator", "labels"], blocks: { content } }, `${at}.dynamic.${item.labels[0]}`, out);
    } else if (item.name in shape.blocks) {
      checkBody(item.body, shape.blocks[item.name], where, out);
    } else if (shape.arguments.includes(item.name)) {
      out.push(`${where} (line ${item.line}): an argument, written as a block "${item.name} {"`);
    } else if (!shape.open) {
      out.push(`${where} (line ${item.line}): unknown block`);
    }
  }
}

/**
 * Where an HCL configuration writes a block as an argument (`postcondition = [...]` for
 * `postcondition { ... }`), an argument as a block, or a name that its place does not have: one line
 * for each, none when every name is what Terraform's language (`terraform`, `lifecycle` and its
 * conditions, `output`, `dynamic`, meta-arguments) or the provider schema (each resource's and data
 * source's attributes and block_types, the provider block) says it is.
 */
export function blockStructureProblems(text: string, schema: ProviderSchemaLike): string[] {
  const out: string[] = [];
  const withMeta = (block: SchemaBlockLike, blocks: Record<string, Shape>) => schemaShape(block, { arguments: META_ARGUMENTS, blocks });
  for (const item of hclStructure(text)) {
    const [first, second] = item.kind === "block" ? item.labels : [];
    const at = [item.name, first, second].filter(Boolean).join(".");
    if (item.kind === "argument") {
      out.push(`${item.name} (line ${item.line}): an argument at the top level`);
      continue;
    }
    let shape: Shape | undefined;
    if (item.name === "terraform") shape = TERRAFORM;
    else if (item.name === "output") shape = OUTPUT;
    else if (item.name === "locals") shape = OPEN;
    else if (item.name === "provider" && first === "aws") shape = schemaShape(schema.provider.block, { arguments: ["alias", "version"] });
    else if (item.name === "resource" && second !== undefined && schema.resource_schemas[first]) {
      shape = withMeta(schema.resource_schemas[first].block, { lifecycle: LIFECYCLE, connection: OPEN, provisioner: OPEN });
    } else if (item.name === "data" && second !== undefined && schema.data_source_schemas[first]) {
      shape = withMeta(schema.data_source_schemas[first].block, { lifecycle: LIFECYCLE });
    }
    if (shape) checkBody(item.body, shape, at, out);
    else out.push(`${at} (line ${item.line}): a block this check does not know`);
  }
  return out;
}
