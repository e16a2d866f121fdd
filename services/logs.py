"""The long-running processes' logging: text lines, or on request (LEDGER_LOG_FORMAT=json) one
JSON object a line for a log collector. Nothing is added to what the code logs: a secret that
is never logged is not logged in JSON either."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message"[, "exception"]}: time in UTC, ISO 8601."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str = "text") -> None:
    """The root logger at INFO in `log_format` ("text" or "json"); aiokafka's chatter at WARNING
    and its repeats summarised (services/log_noise.py). Once: a process configured already
    is left as it is."""
    from services import log_noise

    logging.getLogger("aiokafka").setLevel(logging.WARNING)
    # httpx logs each request's URL at INFO: a Slack, Teams or webhook URL is a credential.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    if logging.getLogger().handlers:
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT))
    logging.basicConfig(level=logging.INFO, handlers=[handler])
    log_noise.install()
