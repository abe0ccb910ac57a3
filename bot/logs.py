"""Logging for every process: one handler, one format, and no personal data in any line.

Residents' names, phones and chat ids must not reach the log. Our own lines never carry them;
what libraries would write is held back here: loggers that echo statements are raised above
the level where they do, uvicorn's access lines lose their query string (a dashboard search may
be a name or a phone), and every formatted line, tracebacks included, loses the database's
DETAIL text (PostgreSQL quotes the failing row there) and anything shaped like a phone number.
"""

from __future__ import annotations

import logging
import re
from typing import Any, TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Loggers kept at or above a level, whatever the configured one is lower.
FLOORS = {
    "aiogram.event": logging.WARNING,  # one line per update: noise at a resident's pace
    "aiosqlite": logging.INFO,  # at DEBUG it prints every statement with its parameters
    "alembic.runtime.plugins": logging.WARNING,
}
# `uvicorn.run(..., **UVICORN)`: uvicorn's records go through the handler configured here
# (and so through its redaction) instead of through handlers of uvicorn's own.
UVICORN: dict[str, Any] = {"log_config": None}

_DETAIL = re.compile(r"^(\s*DETAIL:).*$", re.MULTILINE)
# Indonesian mobile numbers as people write them: +62 812-3456-7890, 6281234567890, 0812 3456 7890.
_PHONE = re.compile(r"(?<![\w+])(?:\+?62|0)[\s.-]?8(?:[\s.-]?\d){7,12}(?!\d)")


def redact(text: str) -> str:
    """The line without the database's quoted row and without phone numbers."""
    return _PHONE.sub("[phone]", _DETAIL.sub(r"\1 [hidden]", text))


class PrivateFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class AccessPathFilter(logging.Filter):
    """uvicorn's access line with the path only: query strings carry what officials search."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            record.args = (args[0], args[1], str(args[2]).split("?", 1)[0], *args[3:])
        return True


def configure(level: str, stream: TextIO | None = None) -> logging.Handler:
    """Send every logger's records, at `level` and above, through one redacting handler."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(PrivateFormatter(FORMAT))
    handler.addFilter(AccessPathFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name, floor in FLOORS.items():
        logging.getLogger(name).setLevel(max(floor, root.level))
    return handler
