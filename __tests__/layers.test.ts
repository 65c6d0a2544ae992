/**
 * The layers of the TypeScript tree, read from the folder names: each file belongs to the most
 * specific layer below that holds it, and imports (type-only ones too) only its own layer, the layers
 * inside it and the ones it names. No import circle, at any size. Imports are read with the TypeScript compiler's
 * own pre-parser (static and dynamic imports, re-exports, require()).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";
import { PROJECT_ROOT } from "./helpers/synth";

/** Each layer with the layers it may import besides itself and the layers inside it. */
const LAYERS: Record<string, string[]> = {
  // Values shared by the stack, the Lambda, ops/ and the Glue jobs: nothing of the project.
  contracts: [],
  // Bundling and the synth runner: build tooling, no runtime code.
  "build-tools": [],
  // The Lambda: runtime code.
  functions: ["contracts"],
  // Finds the project folder (the glue scripts, the Lambda entry, ops/, the tests use it).
  "stacks/project-root.ts": [],
  "stacks/config": [],
  // Roles and grants: what constructs build their roles from.
  "stacks/iam": ["contracts"],
  "stacks/review": [],
  "stacks/constructs": ["contracts", "functions", "build-tools", "stacks/project-root.ts", "stacks/config", "stacks/iam"],
  // The stack and the app compose the constructs.
  stacks: ["contracts", "functions", "build-tools"],
  ops: ["contracts", "functions", "stacks/config", "stacks/project-root.ts"],
  // Local stand-ins of AWS services, for the tests and the benchmarks.
  "local-aws": ["contracts", "stacks/project-root.ts", "stacks/config"],
  scripts: ["contracts", "functions", "build-tools", "stacks", "local-aws"],
  "main.ts": ["stacks"],
  "jest.config.js": [],
  __tests__: ["contracts", "functions", "build-tools", "stacks", "ops", "local-aws", "scripts"],
};
/** Not TypeScript of this project: dependencies, output, and the Python package (with its own JS helper). */
const SKIPPED = new Set(["node_modules", "cdktf.out", "glue-job", "coverage", "build"]);

const within = (file: string, folder: string) => file === folder || file.startsWith(`${folder}/`);
const layerOf = (file: string) => Object.keys(LAYERS).filter((layer) => within(file, layer)).sort((a, b) => b.length - a.length)[0];
/** Whether layer `from` may import layer `to`: itself, a layer below it in the folder tree, or one it names. */
const allowed = (from: string, to: string) => within(to, from) || LAYERS[from].some((target) => within(to, target));

function sourceFiles(dir = ""): string[] {
  return fs.readdirSync(path.join(PROJECT_ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const file = dir ? `${dir}/${entry.name}` : entry.name;
    if (entry.name.startsWith(".") || SKIPPED.has(file)) return [];
    if (entry.isDirectory()) return sourceFiles(file);
    return /\.(ts|js)$/.test(entry.name) && !entry.name.endsWith(".d.ts") ? [file] : [];
  });
}

/** Project file -> the project files it imports. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles()) {
    const { importedFiles } = ts.preProcessFile(fs.readFileSync(path.join(PROJECT_ROOT, file), "utf8"), true, true);
    graph.set(
      file,
      importedFiles
        .map((imported) => imported.fileName)
        .filter((name) => name.startsWith("."))
        .map((name) => {
          const base = path.posix.join(path.posix.dirname(file), name);
          const found = [base, `${base}.ts`, `${base}.js`, `${base}/index.ts`].find((candidate) => fs.statSync(path.join(PROJECT_ROOT, candidate), { throwIfNoEntry: false })?.isFile());
          return found ?? `${base} (missing)`;
        }),
    );
  }
  return graph;
}

/** Strongly connected components of more than one file, or a file importing itself (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (file: string) => {
    index.set(file, index.size);
    low.set(file, index.get(file)!);
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(file, Math.min(low.get(file)!, low.get(next)!));
      } else if (stack.includes(next)) low.set(file, Math.min(low.get(file)!, index.get(next)!));
    }
    if (low.get(file) !== index.get(file)) return;
    const component = stack.splice(stack.indexOf(file));
    if (component.length > 1 || graph.get(file)?.includes(file)) found.push(component.sort());
  };
  for (const file of graph.keys()) if (!index.has(file)) visit(file);
  return found;
}

describe("layers", () => {
  const graph = importGraph();

  test("the layers themselves form no circle", () => {
    const inside = (layer: string) => Object.keys(LAYERS).filter((other) => other !== layer && within(other, layer));
    expect(cycles(new Map(Object.entries(LAYERS).map(([layer, named]) => [layer, [...named, ...inside(layer)]])))).toEqual([]);
  });

  test("every TypeScript and JavaScript file belongs to a layer", () => {
    expect([...graph.keys()].filter((file) => !layerOf(file))).toEqual([]);
  });

  test("every relative import names a file that exists", () => {
    expect([...graph].flatMap(([file, imports]) => imports.filter((to) => to.endsWith("(missing)")).map((to) => `${file} -> ${to}`))).toEqual([]);
  });

  test("imports go only to the layers each layer names", () => {
    const against = [...graph].flatMap(([file, imports]) =>
      imports.filter((to) => layerOf(to) && !allowed(layerOf(file), layerOf(to))).map((to) => `${file} -> ${to}`),
    );
    expect(against).toEqual([]);
  });

  test("no import circles", () => {
    expect(cycles(graph)).toEqual([]);
  });
});
