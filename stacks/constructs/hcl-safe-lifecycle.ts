/** Terraform's blocks inside `lifecycle`: each condition is one `precondition { }` or `postcondition { }`. */
const CONDITION_BLOCKS = ["precondition", "postcondition"];

/**
 * Rewrites the `lifecycle` of one resource or data source as cdktf's HCL renderer takes blocks. cdktf
 * 0.21's renderer writes every entry of `lifecycle` as an argument, so two postconditions become
 * `postcondition = [{...}, {...}]`, which parses as HCL but which Terraform rejects (`Unsupported
 * argument`). Here `lifecycle` and each condition become typed blocks, which the renderer writes as
 * `lifecycle { postcondition { ... } postcondition { ... } }`; the JSON is unchanged.
 */
export function lifecycleAsBlocks(body: Record<string, any>): void {
  const lifecycle: Record<string, unknown> | undefined = body.lifecycle;
  if (!lifecycle || !CONDITION_BLOCKS.some((name) => Array.isArray(lifecycle[name]))) return;
  const value: Record<string, unknown> = { ...lifecycle };
  for (const name of CONDITION_BLOCKS) {
    const conditions = lifecycle[name];
    if (!Array.isArray(conditions)) continue;
    value[name] = {
      // Typed strings: the renderer quotes and escapes them (an expression, `${...}`, is kept as it is).
      value: conditions.map((condition: Record<string, unknown>) =>
        Object.fromEntries(Object.entries(condition).map(([key, text]) => [key, { value: text, type: "simple", storageClassType: "string" }])),
      ),
      isBlock: true,
      type: "list",
      storageClassType: `${name}List`,
    };
  }
  body.lifecycle = { value, isBlock: true, type: "simple" };
}
