"""The server's logging: one JSON line per request when the access log is on (KETACLINIC_ACCESS_LOG),
so a clinic's log collector can read it without a parser of its own."""

import json
import logging
from datetime import UTC, datetime
from typing import Any

from uvicorn.config import LOGGING_CONFIG


class JsonAccessFormatter(logging.Formatter):
    """Formats uvicorn's access records (client, method, path, HTTP version, status) as JSON."""

    def format(self, record: logging.LogRecord) -> str:
        """One request as one line of JSON."""
        client, method, path, http_version, status = record.args  # type: ignore[misc]
        return json.dumps({
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "client": client, "method": method, "path": path, "http": http_version,
            "status": status}, separators=(",", ":"))


def log_config() -> dict[str, Any]:
    """uvicorn's default logging, with the access log written as JSON lines and the app's own
    log (what the in-process worker and sealer did, and their failures) beside uvicorn's."""
    config: dict[str, Any] = json.loads(json.dumps(LOGGING_CONFIG))
    config["formatters"]["access"] = {"()": "ketaclinic.web.access_log.JsonAccessFormatter"}
    config["loggers"]["ketaclinic"] = {"handlers": ["default"], "level": "INFO",
                                       "propagate": False}
    return config
