"""What both entry points do before their work: parse the arguments, describe the source's key
schema, and check the transform and the retained attribute against it. A mistake in any of them ends the run with exit status 2
and `<job>: error: <message>` on stderr (a configuration error, not a failure worth retrying)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Callable, Generic, NoReturn, Optional, Protocol, Sequence, TypeVar

from . import aws_clients
from . import ddb_batch
from . import job_args
from . import job_log
from . import replicate
from . import table_keys
from . import transform as transform_module
from .aws_clients import Client
from .ddb_batch import RetryPolicy, Stats
from .table_keys import KeySchema


class JobConfig(Protocol):
    """What prepare reads of a job's config (job_args): read-only, so any config class that has these
    attributes fits, a frozen dataclass too."""

    @property
    def source_table(self) -> str: ...

    @property
    def backup_table(self) -> str: ...

    @property
    def region(self) -> Optional[str]: ...

    @property
    def retained_attribute(self) -> str: ...

    @property
    def transform(self) -> transform_module.Transform: ...


Config = TypeVar("Config", bound=JobConfig)


@dataclass(frozen=True)
class JobSetup(Generic[Config]):
    config: Config  # the job's own config type, as `parse` returned it
    client: Client  # DynamoDB
    stats: Stats
    policy: RetryPolicy
    schema: KeySchema


def fail(job: str, message: str) -> NoReturn:
    sys.stderr.write("%s: error: %s\n" % (job, message))
    sys.stderr.flush()
    sys.exit(2)


def prepare(job: str, parse: Callable[[Sequence[str]], Config], argv: Sequence[str], start_event: str,
            retry: Optional[RetryPolicy] = None, describe_backup: bool = False) -> JobSetup[Config]:
    """`parse` is job_args.apply_changes_config or full_copy_config; with describe_backup the backup
    table must have the source's key schema too."""
    try:
        config = parse(argv)
    except job_args.ArgumentError as error:
        fail(job, str(error))
    job_log.log_event(start_event, job=job, config=job_args.describe(config))
    client = aws_clients.dynamodb_client(config.region)
    stats = ddb_batch.Stats()
    policy = retry or ddb_batch.RetryPolicy()
    try:
        schema = replicate.table_key_schema(client, config.source_table, stats, policy,
                                            backup_table=config.backup_table if describe_backup else None)
    except table_keys.KeySchemaError as error:
        fail(job, str(error))
    try:
        config.transform.check_key_names(schema.names)
    except transform_module.TransformError as error:
        fail(job, str(error))
    if config.retained_attribute in schema.names:
        fail(job, "--retained_attribute %r is a key attribute of %s (key: %s); it must name an attribute the "
                  "source items never have" % (config.retained_attribute, config.source_table, ", ".join(schema.names)))
    return JobSetup(config, client, stats, policy, schema)
