"""One JSON object per line on stdout: what Glue ships to CloudWatch (continuous logging)."""

import json
import sys
import time


def log_event(event, **fields):
    """Print {"event": event, ...fields} as one JSON line and flush it at once."""
    record = {"event": event, "time": round(time.time(), 3)}
    record.update(fields)
    sys.stdout.write(json.dumps(record, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
