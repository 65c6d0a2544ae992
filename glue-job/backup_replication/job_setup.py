"""What both entry points do before their work: parse the arguments, describe the source's key
schema, and check the transform and the retained attribute against it. A mistake in any of them ends the run with exit status 2
and `<job>: error: <message>` on stderr (a configuration error, not a failure worth retrying)."""

import sys

from . import aws_clients
from . import ddb_batch
from . import job_args
from . import job_log
from . import replicate
from . import table_keys
from . import transform as transform_module


class JobSetup(object):
    def __init__(self, config, client, stats, policy, schema):
        self.config = config
        self.client = client
        self.stats = stats
        self.policy = policy
        self.schema = schema


def fail(job, message):
    sys.stderr.write("%s: error: %s\n" % (job, message))
    sys.stderr.flush()
    sys.exit(2)


def prepare(job, parse, argv, start_event, retry=None, describe_backup=False):
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
