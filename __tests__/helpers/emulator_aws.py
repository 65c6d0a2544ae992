"""What the Terraform tests do on the AWS emulator through boto3: tables that exist before a stack
(sourceTable.existing), objects the pipeline would leave in its bucket, and checks that the applied
resources are wired as the stack declares. One JSON request on stdin, one JSON answer on stdout."""

import json
import sys
from typing import Any, Dict, List, Optional

import urllib.request

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest


def session(request: Dict[str, Any], role_arn: Optional[str] = None, region: Optional[str] = None) -> boto3.session.Session:
    """Credentials in the request's account (or `role_arn`'s): moto's STS acts in the account of an assumed role."""
    region = region or request["region"]
    base = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name=region)
    account = request.get("account")
    if not role_arn and (not account or account == "123456789012"):
        return base
    sts = base.client("sts", endpoint_url=request["endpoint"])
    role_arn = role_arn or f"arn:aws:iam::{account}:role/terraform-tests"
    credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName="terraform-tests")["Credentials"]
    return boto3.session.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=region,
    )


def dynamodb_call(aws: boto3.session.Session, endpoint: str, operation: str, body: Dict[str, Any]) -> Dict[str, Any]:
    """One DynamoDB call as JSON, signed by hand: the tests' boto3 may be older than the fields and
    operations read here (DeletionProtectionEnabled, 2023; GetResourcePolicy, 2024), which its models drop or lack."""
    request = AWSRequest(method="POST", url=endpoint + "/", data=json.dumps(body).encode(),
                         headers={"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"DynamoDB_20120810.{operation}"})
    SigV4Auth(aws.get_credentials(), "dynamodb", aws.region_name).add_auth(request)
    sent = urllib.request.Request(request.url, data=request.body, headers=dict(request.headers), method="POST")
    with urllib.request.urlopen(sent) as response:
        return json.loads(response.read())


def create_table(request: Dict[str, Any]) -> Dict[str, Any]:
    dynamodb = session(request).client("dynamodb", endpoint_url=request["endpoint"])
    keys = request["keys"]
    arguments: Dict[str, Any] = {
        "TableName": request["name"],
        "KeySchema": [{"AttributeName": k["name"], "KeyType": "HASH" if i == 0 else "RANGE"} for i, k in enumerate(keys)],
        "AttributeDefinitions": [{"AttributeName": k["name"], "AttributeType": k["type"]} for k in keys],
        "BillingMode": "PAY_PER_REQUEST",
    }
    if request.get("streamViewType"):
        arguments["StreamSpecification"] = {"StreamEnabled": True, "StreamViewType": request["streamViewType"]}
    if request.get("kmsKeyArn"):
        arguments["SSESpecification"] = {"Enabled": True, "SSEType": "KMS", "KMSMasterKeyId": request["kmsKeyArn"]}
    table = dynamodb.create_table(**arguments)["TableDescription"]
    return {"arn": table["TableArn"]}


def fill_bucket(request: Dict[str, Any]) -> Dict[str, Any]:
    """A manifest in two versions (a remainder written over it) and a verify report, as the pipeline
    leaves them. Not the delete marker an applied manifest leaves: moto 5.2 cannot delete one (its
    _VersionedKeyStore.pop calls dispose() on a FakeDeleteMarker, which has none: 500), so no destroy
    could empty the bucket on the emulator."""
    s3 = session(request).client("s3", endpoint_url=request["endpoint"])
    bucket = request["bucket"]
    for body in (b'{"version":1}', b'{"version":2}'):
        s3.put_object(Bucket=bucket, Key="changes/manifest.json", Body=body)
    s3.put_object(Bucket=bucket, Key="verify/report.json", Body=b"{}")
    listed = s3.list_object_versions(Bucket=bucket)
    return {"versions": len(listed.get("Versions", [])), "deleteMarkers": len(listed.get("DeleteMarkers", []))}


def check_wiring(request: Dict[str, Any]) -> Dict[str, Any]:
    """What AWS holds after apply, against the stack's outputs: one line per problem."""
    aws = session(request)
    out = request["outputs"]
    client = lambda name: aws.client(name, endpoint_url=request["endpoint"])  # noqa: E731
    problems: List[str] = []
    checks = 0

    def check(label: str, actual: Any, expected: Any) -> None:
        nonlocal checks
        checks += 1
        if actual != expected:
            problems.append(f"{label}: {actual!r}, expected {expected!r}")

    dynamodb, lambda_, glue, s3 = client("dynamodb"), client("lambda"), client("glue"), client("s3")
    placed = request["backup"]
    # The backup's side, with the backup provider's credentials and region.
    backup_aws = session(request, placed.get("roleArn"), placed["region"]) if placed["remote"] else aws
    backup_client = lambda name: backup_aws.client(name, endpoint_url=request["endpoint"])  # noqa: E731
    backup_dynamodb = backup_client("dynamodb")
    source = dynamodb.describe_table(TableName=out["source_table_name"])["Table"]
    backup = dynamodb_call(backup_aws, request["endpoint"], "DescribeTable", {"TableName": out["backup_table_name"]})["Table"]
    check("backup table ARN (its account and region)", backup["TableArn"], out["backup_table_arn"])
    check("backup deletion protection", backup.get("DeletionProtectionEnabled", False), placed["deletionProtection"])
    pitr = backup_dynamodb.describe_continuous_backups(TableName=out["backup_table_name"])["ContinuousBackupsDescription"]
    check("backup point-in-time recovery", pitr["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"], "ENABLED")
    if placed.get("roleArn"):
        policy = dynamodb_call(backup_aws, request["endpoint"], "GetResourcePolicy", {"ResourceArn": out["backup_table_arn"]})["Policy"]
        check_backup_policy(json.loads(policy), out, source["TableArn"].split(":")[4], placed["deletes"], check)
    check("backup key schema", backup["KeySchema"], source["KeySchema"])
    key_types = lambda table: {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}  # noqa: E731
    check("backup key types", key_types(backup), key_types(source))
    check("source stream", source.get("StreamSpecification", {}).get("StreamViewType"), "NEW_AND_OLD_IMAGES")
    function = lambda_.get_function(FunctionName=out["change_trigger_function_name"])["Configuration"]
    variables = function["Environment"]["Variables"]
    check("function MANIFEST_BUCKET", variables.get("MANIFEST_BUCKET"), out["bucket_name"])
    check("function APPLY_JOB_NAME", variables.get("APPLY_JOB_NAME"), out["apply_changes_job_name"])
    # moto filters ListEventSourceMappings by the function's ARN only, AWS by its name too.
    mappings = lambda_.list_event_source_mappings(FunctionName=function["FunctionArn"])["EventSourceMappings"]
    check("event source mappings", [m["EventSourceArn"] for m in mappings], [out["source_table_stream_arn"]])
    for name in ("apply_changes_job_name", "full_copy_job_name", "verify_job_name", "restore_job_name", "restore_drill_job_name"):
        job = glue.get_job(JobName=out[name])["Job"]
        location = job["Command"]["ScriptLocation"]
        check(f"{name} script in the bucket", location.startswith(f"s3://{out['bucket_name']}/glue/"), True)
        key = location.split("/", 3)[3]
        check(f"{name} script uploaded", s3.head_object(Bucket=out["bucket_name"], Key=key)["ContentLength"] > 0, True)
        arguments = {**job.get("DefaultArguments", {}), **job.get("NonOverridableArguments", {})}
        check(f"{name} --backup_table", arguments.get("--backup_table"), out["backup_table_arn" if placed["remote"] else "backup_table_name"])
    check("bucket versioning", s3.get_bucket_versioning(Bucket=out["bucket_name"]).get("Status"), "Enabled")
    if request.get("vault"):
        check_vault(backup_client("backup"), out, request["vault"], check)
    return {"checks": checks, "problems": problems}


def check_backup_policy(policy: Dict[str, Any], out: Dict[str, Any], source_account: str, deletes: str, check: Any) -> None:
    """The resource-based policy as applied (moto stores it, and does not enforce it): an allow for each
    job role of the source account, and the denies bound to the source account."""
    statements = {s["Sid"]: s for s in policy["Statement"]}
    role = lambda job: f"arn:aws:iam::{source_account}:role/{out['apply_changes_job_name'].rsplit('-apply-changes', 1)[0]}-{job}"  # noqa: E731
    jobs = ["apply-changes", "full-copy", "verify", "restore", "restore-drill"]
    allows = [s for s in policy["Statement"] if s["Effect"] == "Allow"]
    check("backup policy allows the source account, narrowed to each job role",
          sorted((s["Principal"]["AWS"], s["Condition"]["ArnEquals"]["aws:PrincipalArn"]) for s in allows),
          sorted((f"arn:aws:iam::{source_account}:root", role(job)) for job in jobs))
    for sid in ("SourceAccountNeverDestroysTheBackup", "SourceAccountNeverDeletesItems"):
        denied = statements.get(sid, {})
        check(f"backup policy {sid}", [denied.get("Effect"), denied.get("Resource"), denied.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalAccount")],
              ["Deny", out["backup_table_arn"], source_account])
    exempt = statements.get("SourceAccountNeverDeletesItems", {}).get("Condition", {}).get("ArnNotEquals", {}).get("aws:PrincipalArn")
    exempt = sorted([exempt] if isinstance(exempt, str) else exempt or [])
    check("backup policy: who may delete items", exempt, sorted(role(job) for job in ["apply-changes", "full-copy", "verify"]) if deletes == "mirror" else [])


def check_vault(backup: Any, out: Dict[str, Any], settings: Dict[str, Any], check: Any) -> None:
    """The vault under its lock and key, and the plan's one rule backing up into it (the selection is
    not applied on the emulator: moto cannot create one)."""
    vault = backup.describe_backup_vault(BackupVaultName=out["backup_vault_name"])
    lock = settings["lock"]
    check("vault ARN", vault["BackupVaultArn"], out["backup_vault_arn"])
    check("vault lock", [vault.get("Locked"), vault.get("MinRetentionDays"), vault.get("MaxRetentionDays")], [True, lock["minRetentionDays"], lock["maxRetentionDays"]])
    # Only a compliance lock (ChangeableForDays) has a date after which it can no longer be removed.
    check("vault lock date", "LockDate" in vault, lock["mode"] == "compliance")
    # AWS Backup's own key when none is configured; moto then answers without one.
    if settings.get("kmsKeyArn"):
        check("vault key", vault.get("EncryptionKeyArn"), settings["kmsKeyArn"])
    rules = backup.get_backup_plan(BackupPlanId=out["backup_plan_id"])["BackupPlan"]["Rules"]
    shown = [[r["TargetBackupVaultName"], r["ScheduleExpression"], r.get("Lifecycle", {}).get("DeleteAfterDays")] for r in rules]
    check("backup plan rules", shown, [[out["backup_vault_name"], settings["schedule"], settings["retentionDays"]]])


def main() -> None:
    request = json.load(sys.stdin)
    action = {"create-table": create_table, "fill-bucket": fill_bucket, "check-wiring": check_wiring}[request["action"]]
    json.dump(action(request), sys.stdout)


if __name__ == "__main__":
    main()
