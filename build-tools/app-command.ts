import * as fs from "node:fs";
import * as path from "node:path";

export interface AppCommand {
  /** As cdktf.json writes it. */
  readonly text: string;
  /** What to spawn: this process's node when the command starts with `node`. */
  readonly file: string;
  readonly args: string[];
  readonly runsNode: boolean;
}

/** The app command of `<projectRoot>/cdktf.json`, the one `cdktf synth` runs. */
export function appCommand(projectRoot: string): AppCommand {
  const { app } = JSON.parse(fs.readFileSync(path.join(projectRoot, "cdktf.json"), "utf8")) as { app: string };
  const [command, ...args] = app.split(/\s+/);
  const runsNode = command === "node";
  return { text: app, file: runsNode ? process.execPath : command!, args, runsNode };
}
