import type { TerraformProvider } from "cdktf";
import { Construct } from "constructs";
import { DataAwsIamPolicyDocument, type DataAwsIamPolicyDocumentStatement } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { IamRole } from "@cdktf/provider-aws/lib/iam-role";
import { IamRolePolicy } from "@cdktf/provider-aws/lib/iam-role-policy";
import type { Grant } from "./grant";

export interface ServiceRoleOptions {
  readonly roleName: string;
  /** Service principal allowed to assume the role, e.g. `lambda.amazonaws.com`. */
  readonly servicePrincipal: string;
  /**
   * The account the service must act for (aws:SourceAccount in the trust policy), so that the service
   * cannot be made to assume this role for another account's function or job (confused deputy).
   */
  readonly sourceAccount: string;
  readonly grants: Grant[];
  /** The account the role belongs to, when it is not the stack's default provider's. */
  readonly provider?: TerraformProvider;
}

/** An IAM role for one AWS service with one inline policy built from resource references. */
export class ServiceRole extends Construct {
  public readonly role: IamRole;
  public readonly policy: IamRolePolicy;

  constructor(scope: Construct, id: string, options: ServiceRoleOptions) {
    super(scope, id);
    const { provider } = options;
    const trust = new DataAwsIamPolicyDocument(this, "trust", {
      provider,
      statement: [
        {
          effect: "Allow",
          actions: ["sts:AssumeRole"],
          principals: [{ type: "Service", identifiers: [options.servicePrincipal] }],
          // No aws:SourceArn: neither Lambda (execution roles) nor Glue (job roles) is documented to
          // set it when assuming the role, and a condition on an absent key denies (see README).
          condition: [{ test: "StringEquals", variable: "aws:SourceAccount", values: [options.sourceAccount] }],
        },
      ],
    });
    this.role = new IamRole(this, "role", { provider, name: options.roleName, assumeRolePolicy: trust.json });
    const permissions = new DataAwsIamPolicyDocument(this, "permissions", {
      provider,
      statement: options.grants.map(toStatement),
    });
    this.policy = new IamRolePolicy(this, "policy", {
      provider,
      name: options.roleName,
      role: this.role.id,
      policy: permissions.json,
    });
  }
}

function toStatement(grant: Grant): DataAwsIamPolicyDocumentStatement {
  return {
    sid: grant.sid,
    effect: "Allow",
    actions: grant.actions,
    resources: grant.resources,
    condition: grant.conditions,
  };
}
