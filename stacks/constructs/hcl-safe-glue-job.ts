import { DefaultTokenResolver, StringConcat, Tokenization } from "cdktf";
import { GlueJob } from "@cdktf/provider-aws/lib/glue-job";

/**
 * aws_glue_job whose argument maps (`default_arguments`, `non_overridable_arguments`) keep their
 * meaning in `cdktf synth --hcl`. cdktf 0.21's HCL renderer writes a map key unquoted unless it holds
 * a character outside `A-Za-z0-9_-`, and HCL reads an unquoted `--job-language` as the expression
 * `-(-job-language)`, not as a key, so plan fails. Here the HCL gets each map as one object
 * expression with quoted keys; the JSON is unchanged.
 */
export class HclSafeGlueJob extends GlueJob {
  protected synthesizeHclAttributes(): { [name: string]: any } {
    const attributes = super.synthesizeHclAttributes();
    const maps = { default_arguments: this.defaultArgumentsInput, non_overridable_arguments: this.nonOverridableArgumentsInput };
    for (const [attribute, input] of Object.entries(maps)) {
      // Resolved here, so that cdktf finds no token left to render bare inside the expression.
      const args: Record<string, string> | undefined = Tokenization.resolve(input, {
        scope: this,
        resolver: new DefaultTokenResolver(new StringConcat()),
      });
      if (args && Object.keys(args).length) {
        // JSON string escapes are HCL's, and a resolved reference is a template interpolation in both.
        const items = Object.entries(args).map(([name, value]) => `${JSON.stringify(name)} = ${JSON.stringify(value)}`);
        attributes[attribute] = { value: `\${{${items.join(", ")}}}`, isBlock: false, type: "simple", storageClassType: "string" };
      }
    }
    return attributes;
  }
}
