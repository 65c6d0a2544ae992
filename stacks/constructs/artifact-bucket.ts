import { Construct } from "constructs";
import { DataAwsIamPolicyDocument } from "@cdktf/provider-aws/lib/data-aws-iam-policy-document";
import { S3Bucket } from "@cdktf/provider-aws/lib/s3-bucket";
import { S3BucketLifecycleConfiguration } from "@cdktf/provider-aws/lib/s3-bucket-lifecycle-configuration";
import { S3BucketOwnershipControls } from "@cdktf/provider-aws/lib/s3-bucket-ownership-controls";
import { S3BucketPolicy } from "@cdktf/provider-aws/lib/s3-bucket-policy";
import { S3BucketPublicAccessBlock } from "@cdktf/provider-aws/lib/s3-bucket-public-access-block";
import { S3BucketServerSideEncryptionConfigurationA } from "@cdktf/provider-aws/lib/s3-bucket-server-side-encryption-configuration";
import { S3BucketVersioningA } from "@cdktf/provider-aws/lib/s3-bucket-versioning";
import { BUCKET_LAYOUT } from "../../contracts";

export interface ArtifactBucketOptions {
  /** Bucket name prefix; AWS appends a unique suffix. */
  readonly bucketPrefix: string;
  /** Days before an overwritten or deleted object version is removed. */
  readonly noncurrentVersionDays: number;
  /** Days a rejected manifest is kept. */
  readonly rejectedManifestDays: number;
  /** Customer-managed key (SSE-KMS with a bucket key); SSE-S3 without one. */
  readonly kmsKeyArn?: string;
  /** Destroy deletes every object version first; otherwise destroying a non-empty bucket fails. */
  readonly forceDestroy: boolean;
}

/**
 * The private bucket for the Glue scripts and the change manifests: public access blocked, owner
 * enforced, encrypted, versioned, TLS only.
 */
export class ArtifactBucket extends Construct {
  public readonly bucket: S3Bucket;

  constructor(scope: Construct, id: string, options: ArtifactBucketOptions) {
    super(scope, id);
    this.bucket = new S3Bucket(this, "bucket", { bucketPrefix: options.bucketPrefix, forceDestroy: options.forceDestroy });
    const bucketRef = { bucket: this.bucket.id };
    new S3BucketPublicAccessBlock(this, "public-access-block", {
      ...bucketRef,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    });
    new S3BucketOwnershipControls(this, "ownership", { ...bucketRef, rule: { objectOwnership: "BucketOwnerEnforced" } });
    new S3BucketServerSideEncryptionConfigurationA(this, "encryption", {
      ...bucketRef,
      rule: [
        options.kmsKeyArn
          ? { applyServerSideEncryptionByDefault: { sseAlgorithm: "aws:kms", kmsMasterKeyId: options.kmsKeyArn }, bucketKeyEnabled: true }
          : { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } },
      ],
    });
    new S3BucketVersioningA(this, "versioning", { ...bucketRef, versioningConfiguration: { status: "Enabled" } });
    new S3BucketLifecycleConfiguration(this, "lifecycle", {
      ...bucketRef,
      rule: [
        {
          id: "expire-noncurrent-versions",
          status: "Enabled",
          filter: [{}],
          noncurrentVersionExpiration: [{ noncurrentDays: options.noncurrentVersionDays }],
          // Every applied manifest leaves a delete marker; remove it once its old versions are gone.
          expiration: [{ expiredObjectDeleteMarker: true }],
          abortIncompleteMultipartUpload: [{ daysAfterInitiation: 1 }],
        },
        {
          id: "expire-rejected-manifests",
          status: "Enabled",
          filter: [{ prefix: BUCKET_LAYOUT.rejected }],
          expiration: [{ days: options.rejectedManifestDays }],
        },
      ],
    });
    const tlsOnly = new DataAwsIamPolicyDocument(this, "tls-only", {
      statement: [
        {
          sid: "DenyInsecureTransport",
          effect: "Deny",
          actions: ["s3:*"],
          principals: [{ type: "*", identifiers: ["*"] }],
          resources: [this.bucket.arn, `${this.bucket.arn}/*`],
          condition: [{ test: "Bool", variable: "aws:SecureTransport", values: ["false"] }],
        },
      ],
    });
    new S3BucketPolicy(this, "policy", { ...bucketRef, policy: tlsOnly.json });
  }

  /** ARN pattern of the objects under one prefix of BUCKET_LAYOUT. */
  objectsArn(prefix: string): string {
    return `${this.bucket.arn}/${prefix}*`;
  }
}
