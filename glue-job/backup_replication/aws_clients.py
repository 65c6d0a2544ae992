"""boto3 clients for the jobs.

The endpoint URLs come from AWS_ENDPOINT_URL_DYNAMODB / AWS_ENDPOINT_URL_S3 / AWS_ENDPOINT_URL_CLOUDWATCH (unset
on AWS, so boto3 uses the regional endpoint). The boto3 that Glue and Debian ship is older than the SDK support for those
variables, so they are read here explicitly.

The DynamoDB client makes exactly one attempt per call: ddb_batch owns retries (throttling, 5xx,
connection errors, unprocessed items) so that each one is counted and bounded in time.
"""

from __future__ import annotations

import os
from typing import Any, Optional

import boto3
from botocore.config import Config

# boto3 clients are untyped here (no stubs): the jobs call them by method name, as boto3 documents them.
Client = Any


def _endpoint(name: str) -> Optional[str]:
    value = os.environ.get(name)
    return value or None


def dynamodb_client(region: Optional[str] = None) -> Client:
    config = Config(
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=10,
        read_timeout=60,
        # apply-changes runs chunk_workers chunks at once, each with the writer's thread pool.
        max_pool_connections=64,
    )
    return boto3.client(
        "dynamodb",
        region_name=region or None,
        endpoint_url=_endpoint("AWS_ENDPOINT_URL_DYNAMODB"),
        config=config,
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
