import { DataAwsDynamodbTable } from "@cdktf/provider-aws/lib/data-aws-dynamodb-table";
import { lifecycleAsBlocks } from "./hcl-safe-lifecycle";

/** data "aws_dynamodb_table" whose `lifecycle` conditions stay blocks in `cdktf synth --hcl` (hcl-safe-lifecycle.ts). */
export class HclSafeDataAwsDynamodbTable extends DataAwsDynamodbTable {
  public toHclTerraform(): any {
    const hcl = super.toHclTerraform();
    lifecycleAsBlocks(hcl.data[this.terraformResourceType][this.friendlyUniqueId]);
    return hcl;
  }
}
