/**
 * The largest source files and functions of a checkout (TypeScript through the compiler's parser,
 * Python through its own `ast`), to see where the code is packed. Prints JSON.
 *
 *   npx tsx scripts/code-size.ts [folder] [--top 10]
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import * as ts from "typescript";

const root = path.resolve(process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : path.join(__dirname, ".."));
const TOP = Number(process.argv[process.argv.indexOf("--top") + 1]) || 10;
const SKIPPED = new Set(["node_modules", "cdktf.out", ".git", ".test-results", "coverage", "build", "__pycache__", "reference"]);

interface Sized {
  readonly name: string;
  readonly lines: number;
}

function files(dir: string, extension: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (SKIPPED.has(entry.name) || entry.name.startsWith(".")) return [];
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) return files(file, extension);
    return entry.name.endsWith(extension) && !entry.name.endsWith(".d.ts") ? [file] : [];
  });
}

const lineCount = (file: string) => fs.readFileSync(file, "utf8").split("\n").length - 1;
const relative = (file: string) => path.relative(root, file);

function typescriptFunctions(file: string): Sized[] {
  const source = ts.createSourceFile(file, fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: Sized[] = [];
  const lineOf = (position: number) => source.getLineAndCharacterOfPosition(position).line;
  const visit = (node: ts.Node, owner: string): void => {
    let name: string | undefined;
    if (ts.isFunctionDeclaration(node) || ts.isMethodDeclaration(node)) name = node.name?.getText(source);
    else if (ts.isConstructorDeclaration(node)) name = `${owner}.constructor`;
    else if ((ts.isArrowFunction(node) || ts.isFunctionExpression(node)) && ts.isVariableDeclaration(node.parent)) name = node.parent.name.getText(source);
    else if (ts.isVariableDeclaration(node) && node.initializer && /^z\b|^z\./.test(node.initializer.getText(source).slice(0, 2))) name = node.name.getText(source);
    if (name) found.push({ name: `${relative(file)}:${name}`, lines: lineOf(node.getEnd()) - lineOf(node.getStart(source)) + 1 });
    const nextOwner = ts.isClassDeclaration(node) && node.name ? node.name.getText(source) : owner;
    ts.forEachChild(node, (child) => visit(child, nextOwner));
  };
  visit(source, "");
  return found;
}

const PYTHON_FUNCTIONS = `
import ast, json, sys
out = []
for name in sys.argv[1:]:
    tree = ast.parse(open(name).read())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out.append([name + ":" + node.name, node.end_lineno - node.lineno + 1])
print(json.dumps(out))
`;

function pythonFunctions(list: string[]): Sized[] {
  if (list.length === 0) return [];
  const output = execFileSync("python3", ["-c", PYTHON_FUNCTIONS, ...list], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(output) as [string, number][]).map(([name, lines]) => ({ name: relative(name), lines }));
}

const largest = (items: Sized[]) => [...items].sort((a, b) => b.lines - a.lines || a.name.localeCompare(b.name)).slice(0, TOP).map(({ name, lines }) => `${lines} ${name}`);

const tsFiles = files(root, ".ts");
const pyFiles = files(root, ".py");
console.log(
  JSON.stringify(
    {
      root: path.basename(root),
      readmeLines: lineCount(path.join(root, "README.md")),
      typescript: { files: largest(tsFiles.map((file) => ({ name: relative(file), lines: lineCount(file) }))), functions: largest(tsFiles.flatMap(typescriptFunctions)) },
      python: { files: largest(pyFiles.map((file) => ({ name: relative(file), lines: lineCount(file) }))), functions: largest(pythonFunctions(pyFiles)) },
    },
    null,
    2,
  ),
);
