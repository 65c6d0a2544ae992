"""One JSON object per line on stdout: what Glue ships to CloudWatch (continuous logging)."""

from __future__ import annotations

import json
import sys
import time
from typing import Any, Protocol


class LogFunction(Protocol):
    """log_event, or what a test passes instead of it."""

    def __call__(self, event: str, **fields: Any) -> None: ...


def log_event(event: str, **fields: Any) -> None:
    """Print {"event": event, ...fields} as one JSON line and flush it at once."""
    record: dict[str, Any] = {"event": event, "time": round(time.time(), 3)}
    record.update(fields)
    sys.stdout.write(json.dumps(record, sort_keys=False, default=str) + "\n")
    sys.stdout.flush()
