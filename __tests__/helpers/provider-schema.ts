/**
 * Validates synthesized Terraform JSON (cdk.tf.json) against the hashicorp/aws provider schema
 * of the version the project pins, kept in __tests__/reference/ (see SOURCES.md there).
 */
import * as fs from "fs";
import * as path from "path";
import { PROVIDER_SCHEMA_FILE } from "./reference";

/** cty type JSON: "string" | "number" | "bool" | "dynamic" | ["list"|"set"|"map", T] | ["object", {...}] | ["tuple", [...]] */
export type CtyType = string | readonly [string, unknown];

export interface SchemaAttribute {
  type?: CtyType;
  nested_type?: unknown;
  required?: boolean;
  optional?: boolean;
  computed?: boolean;
}

export interface SchemaBlock {
  attributes?: Record<string, SchemaAttribute>;
  block_types?: Record<string, SchemaBlockType>;
  /** Not part of the schema format: accept any attribute name, with this type (used for provider `endpoints`). */
  any_attribute?: CtyType;
}

export interface SchemaBlockType {
  nesting_mode: "single" | "group" | "list" | "set" | "map";
  block: SchemaBlock;
  min_items?: number;
  max_items?: number;
}

export interface ProviderSchema {
  provider: { block: SchemaBlock };
  resource_schemas: Record<string, { block: SchemaBlock }>;
  data_source_schemas: Record<string, { block: SchemaBlock }>;
}

const PROVIDER_KEY = "registry.terraform.io/hashicorp/aws";
export const DEFAULT_SCHEMA_FILE = PROVIDER_SCHEMA_FILE;

const cache = new Map<string, ProviderSchema>();

export function loadProviderSchema(file: string = DEFAULT_SCHEMA_FILE): ProviderSchema {
  const resolved = path.resolve(file);
  let schema = cache.get(resolved);
  if (!schema) {
    const json = JSON.parse(fs.readFileSync(resolved, "utf8")) as { provider_schemas?: Record<string, ProviderSchema> };
    schema = json.provider_schemas?.[PROVIDER_KEY];
    if (!schema) throw new Error(`${resolved}: no provider_schemas["${PROVIDER_KEY}"]`);
    cache.set(resolved, schema);
  }
  return schema;
}

const RESOURCE_META = new Set(["count", "for_each", "depends_on", "provider", "lifecycle", "provisioner", "connection", "//"]);
const PROVIDER_META = new Set(["alias", "version", "//"]);
const NO_META = new Set<string>();
const TOP_LEVEL = new Set(["//", "terraform", "provider", "resource", "data", "output", "locals", "variable", "module", "moved", "import", "removed", "check"]);

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
/** A string containing `${` (or a `%{` directive) is a Terraform expression, typed only at plan time. */
const isExpr = (v: unknown): boolean => typeof v === "string" && (v.includes("${") || v.includes("%{"));
const describe = (v: unknown): string => (v === null ? "null" : Array.isArray(v) ? "array" : typeof v);

function typeName(t: CtyType): string {
  if (typeof t === "string") return t;
  const [kind, inner] = t;
  return kind === "list" || kind === "set" || kind === "map" ? `${kind}(${typeName(inner as CtyType)})` : kind;
}

function checkType(v: unknown, t: CtyType, at: string, out: string[]): void {
  if (v === null || v === undefined || isExpr(v) || t === "dynamic") return;
  const bad = (): void => void out.push(`${at}: expected ${typeName(t)}, got ${describe(v)} ${JSON.stringify(v)}`);
  if (typeof t === "string") {
    if (t === "string" && !["string", "number", "boolean"].includes(typeof v)) bad();
    if (t === "number" && !(typeof v === "number" || (typeof v === "string" && v.trim() !== "" && !isNaN(Number(v))))) bad();
    if (t === "bool" && !(typeof v === "boolean" || v === "true" || v === "false")) bad();
    return;
  }
  const [kind, inner] = t;
  if (kind === "list" || kind === "set" || kind === "tuple") {
    if (!Array.isArray(v)) return bad();
    if (kind !== "tuple") v.forEach((item, i) => checkType(item, inner as CtyType, `${at}[${i}]`, out));
  } else if (kind === "map" || kind === "object") {
    if (!isObj(v)) return bad();
    for (const [k, item] of Object.entries(v)) {
      const attrType = kind === "map" ? (inner as CtyType) : (inner as Record<string, CtyType>)[k];
      if (attrType === undefined) out.push(`${at}: unknown object attribute "${k}"`);
      else checkType(item, attrType, `${at}.${k}`, out);
    }
  }
}

function checkNested(v: unknown, bt: SchemaBlockType, at: string, out: string[]): void {
  if (isExpr(v)) return; // a whole block given as an expression
  let items: [unknown, string][];
  if (bt.nesting_mode === "single" || bt.nesting_mode === "group") {
    if (!isObj(v)) return void out.push(`${at}: expected a single block (object), got ${describe(v)}`);
    items = [[v, at]];
  } else if (bt.nesting_mode === "map") {
    if (!isObj(v)) return void out.push(`${at}: expected a map of blocks (object), got ${describe(v)}`);
    items = Object.entries(v).map(([label, item]) => [item, `${at}.${label}`]);
  } else if (Array.isArray(v)) {
    items = v.map((item, i) => [item, `${at}[${i}]`]);
  } else if (isObj(v)) {
    items = [[v, at]];
  } else {
    return void out.push(`${at}: expected a block (object or array of objects), got ${describe(v)}`);
  }
  if (bt.max_items && items.length > bt.max_items) out.push(`${at}: at most ${bt.max_items} block(s) allowed, got ${items.length}`);
  if (bt.min_items && items.length < bt.min_items) out.push(`${at}: at least ${bt.min_items} block(s) required, got ${items.length}`);
  for (const [item, itemAt] of items) if (!isExpr(item)) checkBlock(item, bt.block, itemAt, out, NO_META);
}

function checkBlock(body: unknown, block: SchemaBlock, at: string, out: string[], meta: ReadonlySet<string>): void {
  if (!isObj(body)) return void out.push(`${at}: expected a block (object), got ${describe(body)}`);
  const attributes = block.attributes ?? {};
  const blockTypes = block.block_types ?? {};
  const dynamicBlocks: Obj = isObj(body.dynamic) ? body.dynamic : {}; // cdktf dynamic blocks (iterators)
  for (const [key, value] of Object.entries(body)) {
    const attr = attributes[key];
    if (meta.has(key) || value === null) continue;
    if (attr) {
      if (attr.computed && !attr.optional && !attr.required) out.push(`${at}: "${key}" is computed-only and cannot be set`);
      else if (attr.type !== undefined) checkType(value, attr.type, `${at}.${key}`, out);
    } else if (blockTypes[key]) {
      checkNested(value, blockTypes[key], `${at}.${key}`, out);
    } else if (key === "dynamic" && isObj(value)) {
      for (const [name, dyn] of Object.entries(dynamicBlocks)) {
        const bt = blockTypes[name];
        if (!bt) out.push(`${at}.dynamic: unknown block type "${name}"`);
        else if (isObj(dyn) && dyn.content !== undefined) checkBlock(dyn.content, bt.block, `${at}.dynamic.${name}.content`, out, NO_META);
      }
    } else if (block.any_attribute !== undefined) {
      checkType(value, block.any_attribute, `${at}.${key}`, out);
    } else {
      out.push(`${at}: unknown argument "${key}"`);
    }
  }
  for (const [key, attr] of Object.entries(attributes)) {
    if (attr.required && (body[key] === undefined || body[key] === null)) out.push(`${at}: missing required argument "${key}"`);
  }
  for (const [key, bt] of Object.entries(blockTypes)) {
    if (bt.min_items && body[key] === undefined && dynamicBlocks[key] === undefined) {
      out.push(`${at}.${key}: at least ${bt.min_items} block(s) required, got 0`);
    }
  }
}

/** The schema leaves the attributes of provider `endpoints` unlisted (SOURCES.md): accept any, as strings. */
function withOpenEndpoints(block: SchemaBlock): SchemaBlock {
  const endpoints = block.block_types?.endpoints;
  if (!endpoints) return block;
  const open: SchemaBlockType = { ...endpoints, block: { ...endpoints.block, any_attribute: "string" } };
  return { ...block, block_types: { ...block.block_types, endpoints: open } };
}

/** Returns human-readable problems, each prefixed with its path; an empty list means valid. */
export function validateTerraformJson(tfJson: object, schema: ProviderSchema = loadProviderSchema()): string[] {
  const out: string[] = [];
  const doc = tfJson as Obj;
  for (const key of Object.keys(doc)) if (!TOP_LEVEL.has(key)) out.push(`${key}: unknown top-level key`);

  const sections: [string, Record<string, { block: SchemaBlock }>, string][] = [
    ["resource", schema.resource_schemas, "resource type"],
    ["data", schema.data_source_schemas, "data source type"],
  ];
  for (const [section, schemas, what] of sections) {
    const byType = doc[section];
    if (byType === undefined) continue;
    if (!isObj(byType)) { out.push(`${section}: expected an object, got ${describe(byType)}`); continue; }
    for (const [type, byName] of Object.entries(byType)) {
      const typeSchema = Object.prototype.hasOwnProperty.call(schemas, type) ? schemas[type] : undefined;
      if (!typeSchema) { out.push(`${section}.${type}: unknown ${what} "${type}"`); continue; }
      if (!isObj(byName)) { out.push(`${section}.${type}: expected an object of named blocks, got ${describe(byName)}`); continue; }
      for (const [name, body] of Object.entries(byName)) checkBlock(body, typeSchema.block, `${section}.${type}.${name}`, out, RESOURCE_META);
    }
  }

  const aws = isObj(doc.provider) ? doc.provider.aws : undefined;
  if (aws !== undefined) {
    const providerBlock = withOpenEndpoints(schema.provider.block);
    if (Array.isArray(aws)) aws.forEach((cfg, i) => checkBlock(cfg, providerBlock, `provider.aws[${i}]`, out, PROVIDER_META));
    else checkBlock(aws, providerBlock, "provider.aws", out, PROVIDER_META);
  }

  if (isObj(doc.output)) {
    for (const [name, o] of Object.entries(doc.output)) if (!isObj(o) || !("value" in o)) out.push(`output.${name}: missing "value"`);
  }
  return out;
}
