import { CloudBackend, LocalBackend, NamedCloudWorkspace, S3Backend, TaggedCloudWorkspaces, type TerraformStack } from "cdktf";
import type { EnvironmentConfig } from "./config/schema";

/**
 * The state backend of one environment. Local state defaults to the project root, addressed
 * relative to the stack folder (cdktf.out/stacks/<name>) so no absolute path reaches the output.
 */
export function configureBackend(stack: TerraformStack, name: string, config: EnvironmentConfig): void {
  const backend = config.backend;
  switch (backend.type) {
    case "local":
      new LocalBackend(stack, { path: backend.path ?? `../../../terraform.${name}.tfstate` });
      return;
    case "s3":
      new S3Backend(stack, {
        bucket: backend.bucket,
        key: backend.key ?? `${name}/terraform.tfstate`,
        region: backend.region ?? config.region,
        encrypt: true,
        kmsKeyId: backend.kmsKeyId,
      });
      // S3-native state locking (Terraform >= 1.10); cdktf 0.21 has no typed setting for it.
      stack.addOverride("terraform.backend.s3.use_lockfile", true);
      return;
    case "cloud":
      new CloudBackend(stack, {
        organization: backend.organization,
        hostname: backend.hostname,
        workspaces: backend.workspace ? new NamedCloudWorkspace(backend.workspace) : new TaggedCloudWorkspaces(backend.workspaceTags!),
      });
      return;
  }
}
