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

A table may be in another account or region than the job (the backup, given by ARN: DynamoDB's
cross-account access through resource-based policies takes only the ARN, as TableName and as the key
of RequestItems). A request must go to the endpoint of the table's region, so `dynamodb_client(region)`
is a RegionalDynamoDB: each call goes to a client of the region its table is in (a plain name: `region`).
"""

from __future__ import annotations

import functools
import os
import threading
from typing import Any, Callable, Mapping, Optional

import boto3
import botocore.session
from botocore.config import Config

from . import table_keys

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
    endpoint, config = _endpoint("AWS_ENDPOINT_URL_DYNAMODB"), dynamodb_config(**overrides)
    return RegionalDynamoDB(lambda name: boto3.client("dynamodb", region_name=name, endpoint_url=endpoint,
                                                      config=config), region or None)


class RegionalDynamoDB:
    """A DynamoDB client whose operations go to the region of the table they name (TableName, or the keys of
    RequestItems): a table given by ARN to a client of the ARN's region, made on first use with the same
    endpoint and Config; a plain name, or an operation naming no table, to the default client (of
    `region`). An operation naming tables of two regions is refused (ValueError): no one request reaches
    both. Waiters and paginators go by the table their wait / paginate names. Every other attribute (meta,
    exceptions, can_paginate, ...) is the default client's.

    Each operation's method is made once and kept on the instance: a call costs the bare client's plus a
    dictionary lookup and a startswith("arn:") per table named."""

    def __init__(self, make: Callable[[Optional[str]], Client], region: Optional[str]) -> None:
        self._make = make
        self._default = make(region)
        self._region: Optional[str] = self._default.meta.region_name
        self._others: dict[Optional[str], Client] = {}
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        # Private names are not forwarded: before __init__ has set _default (copy, pickle), looking it up here
        # would recurse.
        if name.startswith("_"):
            raise AttributeError(name)
        attribute = getattr(self._default, name)
        if name in ("get_waiter", "get_paginator"):
            routed: Any = functools.partial(_Routed, self, name)
        elif name in self._default.meta.method_to_api_mapping:
            routed = self._routed(name, attribute)
        else:
            return attribute
        setattr(self, name, routed)
        return routed

    def _routed(self, name: str, default: Callable[..., Any]) -> Callable[..., Any]:
        def call(**kwargs: Any) -> Any:
            client = self.client_for(kwargs)
            return default(**kwargs) if client is self._default else getattr(client, name)(**kwargs)
        call.__name__ = name  # what ddb_batch.call names a call by, as the bare client's method
        return call

    def client_for(self, kwargs: Mapping[str, Any]) -> Client:
        """The client of the region of the table(s) an operation's parameters name."""
        table = kwargs.get("TableName")
        if table is not None:
            region = self._region_of(table)
        else:
            regions = set(map(self._region_of, kwargs.get("RequestItems") or ()))
            if len(regions) > 1:
                raise ValueError("one DynamoDB request names tables of two regions: %s"
                                 % ", ".join(sorted(kwargs["RequestItems"])))
            region = regions.pop() if regions else self._region
        return self._default if region == self._region else self._client(region)

    def _region_of(self, table: str) -> Optional[str]:
        return table_keys.table_ref(table).region if table.startswith("arn:") else self._region

    def _client(self, region: Optional[str]) -> Client:
        client = self._others.get(region)
        if client is None:
            with self._lock:  # boto3's default session is not safe to make clients from at once
                client = self._others.get(region)
                if client is None:
                    client = self._others[region] = self._make(region)
        return client


class _Routed:
    """A waiter or paginator of a RegionalDynamoDB: made by the client of the table its call names."""

    def __init__(self, router: RegionalDynamoDB, getter: str, name: str) -> None:
        self._router = router
        self._getter = getter
        self._name = name

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(**kwargs: Any) -> Any:
            made = getattr(self._router.client_for(kwargs), self._getter)(self._name)
            return getattr(made, method)(**kwargs)
        return call


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
