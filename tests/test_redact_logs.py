"""RedactFilter: the token goes from a log record's text, its string extra fields and
its traceback, in text and in JSON logs alike."""

from __future__ import annotations

import io
import json
import logging

import pytest

from connector.logs import JsonFormatter, RedactFilter

SECRET = "tok-REDACT-ME-1234567890"


@pytest.mark.parametrize("formatter", [logging.Formatter("%(message)s"), JsonFormatter()])
def test_the_secret_leaves_message_extras_and_traceback(formatter):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter([SECRET]))
    log = logging.getLogger("campaign_sync.test_redact")
    log.addHandler(handler)
    log.propagate = False
    try:
        try:
            raise RuntimeError(f"server said: bad token {SECRET}")
        except RuntimeError:
            log.error("failed with %s", SECRET, exc_info=True,
                      extra={"event": "x", "detail": f"Authorization: {SECRET}", "n": 3})
        log.info("plain %s", "line", stack_info=True)
    finally:
        log.removeHandler(handler)
    out = stream.getvalue()
    assert SECRET not in out
    # message and traceback (and, in JSON, the extra field)
    assert out.count("***") >= (3 if isinstance(formatter, JsonFormatter) else 2)
    assert "RuntimeError" in out  # the traceback is still there
    if isinstance(formatter, JsonFormatter):
        first = json.loads(out.splitlines()[0])
        assert first["detail"] == "Authorization: ***" and first["n"] == 3
        assert "***" in first["exception"]
