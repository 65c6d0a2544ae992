/**
 * Every relative link of the guide and the docs leads somewhere: the file exists and, for a link to a
 * heading, the heading does (GitHub's anchors: lower case, punctuation dropped, spaces to hyphens).
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { PROJECT_ROOT } from "./helpers/synth";

const PAGES = ["README.md", "glue-job/README.md", ...fs.readdirSync(path.join(PROJECT_ROOT, "docs")).map((file) => `docs/${file}`)].filter((page) => page.endsWith(".md"));

const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, "")
    .replace(/ /g, "-");

function anchorsOf(page: string): Set<string> {
  const text = fs.readFileSync(path.join(PROJECT_ROOT, page), "utf8").replace(/```[\s\S]*?```/g, "");
  return new Set([...text.matchAll(/^#{1,6} (.*)$/gm)].map(([, heading]) => anchor(heading)));
}

function linksOf(page: string): string[] {
  const text = fs.readFileSync(path.join(PROJECT_ROOT, page), "utf8").replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  return [...text.matchAll(/\]\(([^)\s]+)\)/g)].map(([, target]) => target).filter((target) => !/^[a-z]+:/.test(target));
}

test.each(PAGES)("every relative link of %s leads to a file and heading that exist", (page) => {
  const broken = linksOf(page).filter((target) => {
    const [file, fragment] = target.split("#");
    const resolved = file ? path.posix.normalize(path.posix.join(path.posix.dirname(page), file)) : page;
    if (!fs.existsSync(path.join(PROJECT_ROOT, resolved))) return true;
    return fragment !== undefined && resolved.endsWith(".md") && !anchorsOf(resolved).has(fragment);
  });
  expect(broken).toEqual([]);
});
