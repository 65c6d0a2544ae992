import { DataAwsDynamodbTable } from "@cdktf/provider-aws/lib/data-aws-dynamodb-table";

/** Terraform's blocks inside `lifecycle`: each condition is one `precondition { }` or `postcondition { }`. */
const CONDITION_BLOCKS = ["precondition", "postcondition"];

/**
 * data "aws_dynamodb_table" whose `lifecycle` conditions stay blocks in `cdktf synth --hcl`. cdktf
 * 0.21's HCL renderer writes every entry of `lifecycle` as an argument, so two postconditions become
 * `postcondition = [{...}, {...}]`, which parses as HCL but which Terraform rejects (`Unsupported
 * argument`). Here the HCL gets `lifecycle` and each condition as typed blocks, which the renderer
 * writes as `lifecycle { postcondition { ... } postcondition { ... } }`; the JSON is unchanged.
 */
export class HclSafeDataAwsDynamodbTable extends DataAwsDynamodbTable {
  public toHclTerraform(): any {
    const hcl = super.toHclTerraform();
    const body = hcl.data[this.terraformResourceType][this.friendlyUniqueId];
    const lifecycle: Record<string, unknown> | undefined = body.lifecycle;
    if (lifecycle && CONDITION_BLOCKS.some((name) => Array.isArray(lifecycle[name]))) {
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
    return hcl;
  }
}
