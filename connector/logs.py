"""Log formatting: text or one JSON object per event, with secrets scrubbed."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable

from .privacy import mask_text, scrub_secrets

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        event = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                  + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _RESERVED and not key.startswith("_"):
                event[key] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:  # already formatted (and scrubbed) by RedactFilter
            event["exception"] = record.exc_text
        return json.dumps(event, default=str, ensure_ascii=False)


class RedactFilter(logging.Filter):
    """Replaces every secret with *** in a record's final text, in its string `extra=`
    fields and in its traceback (formatted here, so no handler formats it again)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def _scrub(self, text: str) -> str:
        return scrub_secrets(text, self.secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        record.msg, record.args = self._scrub(record.getMessage()), None
        for key, value in list(vars(record).items()):
            if key not in _RESERVED and not key.startswith("_") and isinstance(value, str):
                setattr(record, key, self._scrub(value))
        if record.exc_info:
            record.exc_text = self._scrub(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self._scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self._scrub(record.stack_info)
        return True


def redact_secrets(logger_name: str, *secrets: str) -> None:
    """Install a redacting filter on every handler of the named logger."""
    for handler in logging.getLogger(logger_name).handlers:
        handler.addFilter(RedactFilter(secrets))


class MaskFilter(logging.Filter):
    """--mask-pii: phones and emails in a record's text (and its string extras) are
    masked as in the reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = mask_text(record.getMessage()), None
        for key, value in list(vars(record).items()):
            if key not in _RESERVED and not key.startswith("_") and isinstance(value, str):
                setattr(record, key, mask_text(value))
        return True


def mask_logs(logger_name: str) -> None:
    """Install the masking filter on every handler of the named logger."""
    for handler in logging.getLogger(logger_name).handlers:
        handler.addFilter(MaskFilter())
