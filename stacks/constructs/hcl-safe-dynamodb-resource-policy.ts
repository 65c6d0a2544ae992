import { DynamodbResourcePolicy } from "@cdktf/provider-aws/lib/dynamodb-resource-policy";
import { lifecycleAsBlocks } from "./hcl-safe-lifecycle";

/** aws_dynamodb_resource_policy whose `lifecycle` conditions stay blocks in `cdktf synth --hcl` (hcl-safe-lifecycle.ts). */
export class HclSafeDynamodbResourcePolicy extends DynamodbResourcePolicy {
  public toHclTerraform(): any {
    const hcl = super.toHclTerraform();
    lifecycleAsBlocks(hcl.resource[this.terraformResourceType][this.friendlyUniqueId]);
    return hcl;
  }
}
