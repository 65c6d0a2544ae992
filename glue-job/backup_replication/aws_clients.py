"""boto3 clients for the jobs.

The endpoint URLs come from AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_CLOUDWATCH (unset
on AWS, so boto3 uses the regional endpoint). The boto3 that Glue and Debian ship is older than the SDK support for those
variables, so they are read here explicitly.

The DynamoDB client makes exactly one attempt per call: ddb_batch owns retries (throttling, 5xx,
connection errors, unprocessed items) so that each one is counted and bounded in time.

The DynamoDB client is the one per item (a conditional PutItem per item under "retain"), so it skips
what costs client CPU on every request without changing a request's meaning: botocore's client-side
parameter validation, and the User-Agent string that newer botocore rebuilds for every request.
`dynamodb_client(**overrides)` takes other Config values (the benchmarks turn each of those off).
"""

from __future__ import annotations

import functools
import os
from typing import Any, Optional

import boto3
import botocore.session
from botocore.config import Config

# boto3 clients are untyped here (no stubs): the jobs call them by method name, as boto3 documents them.
Client = Any


def _endpoint(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value or None


@functools.lru_cache(maxsize=None)
def sdk_user_agent() -> str:
    """boto3's User-Agent in the form botocore used before it built one per request: Boto3/<version>
    Python/<version> <platform>/<release> (and AWS_EXECUTION_ENV), by botocore's Session.user_agent();
    recent botocore appends Botocore/<version> to a configured one."""
    core = botocore.session.get_session()
    core.user_agent_name = "Boto3"
    core.user_agent_version = boto3.__version__
    return core.user_agent()


def dynamodb_config(**overrides: Any) -> Config:
    options: dict[str, Any] = {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": 10,
        "read_timeout": 60,
        # apply-changes runs chunk_workers chunks at once, each with the writer's thread pool.
        "max_pool_connections": 64,
        # "You can disable parameter validation for performance reasons"
        # (https://docs.aws.amazon.com/botocore/latest/reference/config.html). The package builds every
        # request from items DynamoDB returned or manifest_format validated, and DynamoDB validates it
        # again; checking each typed value in Python first cost a quarter of a BatchWriteItem's client CPU.
        "parameter_validation": False,
        # A fixed string ("The value to use in the User-Agent header", same page): recent botocore (1.43,
        # not 1.29) otherwise rebuilds its structured User-Agent twice a request, a tenth of a PutItem's CPU.
        "user_agent": sdk_user_agent(),
    }
    options.update(overrides)
    return Config(**options)


def dynamodb_client(region: Optional[str] = None, **overrides: Any) -> Client:
    """`overrides`: Config values in place of dynamodb_config's (user_agent=None: botocore's own)."""
    return boto3.client(
        "dynamodb",
        region_name=region or None,
        endpoint_url=_endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
        config=dynamodb_config(**overrides),
    )


def s3_client(region: Optional[str] = None) -> Client:
    endpoint = _endpoint("AWS_ENDPOINT_URL_S3")
    options: dict[str, Any] = {"retries": {"max_attempts": 5, "mode": "standard"}, "max_pool_connections": 16}
    if endpoint:
        options["s3"] = {"addressing_style": "path"}
    return boto3.client(
        "s3",
        region_name=region or None,
        endpoint_url=endpoint,
        config=Config(**options),
    )


def cloudwatch_client(region: Optional[str] = None) -> Client:
    """For lib/metrics.py's PutMetricData: few quick attempts, since a lost datum never fails the run."""
    return boto3.client(
        "cloudwatch",
        region_name=region or None,
        endpoint_url=_endpoint("AWS_ENDPOINT_URL_CLOUDWATCH"),
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=15),
    )


def sqs_client(region: Optional[str] = None) -> Client:
    """For restore's look at the dead-letter queue (GetQueueAttributes)."""
    return boto3.client(
        "sqs",
        region_name=region or None,
        endpoint_url=_endpoint("AWS_ENDPOINT_URL_SQS"),
        config=Config(retries={"max_attempts": 5, "mode": "standard"}),
    )
