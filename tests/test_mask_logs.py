"""--mask-pii also masks phones and emails in log events and in error messages."""

from __future__ import annotations

import json
import logging

from click.testing import CliRunner

from connector.cli import cli
from connector.logs import JsonFormatter, MaskFilter


def test_mask_filter_masks_message_and_string_extras():
    record = logging.LogRecord("campaign_sync", logging.INFO, __file__, 1,
                               "job failed for %s at %s", ("ann@example.com", "+12014716992"),
                               None)
    record.detail = "phone +1 201 471 6993 in use"
    record.count = 3
    assert MaskFilter().filter(record)
    event = json.loads(JsonFormatter().format(record))
    assert event["message"] == "job failed for a***@example.com at +1******6992"
    assert "4716993" not in event["detail"] and event["count"] == 3


def test_plan_error_message_is_masked_with_mask_pii(sandbox, tmp_path):
    (tmp_path / "m.yaml").write_text(
        "columns:\n  external_unique_id: id\n  name: name\n  phone_number: phone\n"
        "  email: bob.stone@example.com\n", encoding="utf-8")
    (tmp_path / "s.csv").write_text("id,name,phone\nk1,Ann,2014716992\n", encoding="utf-8")
    env = {"CAMPAIGN_SYNC_BASE_URL": sandbox.url, "CAMPAIGN_SYNC_API_USER": "acme",
           "CAMPAIGN_SYNC_API_TOKEN": "s3cret-token-value"}
    args = ["plan", str(tmp_path / "s.csv"), "--campaign-id", "6", "-m",
            str(tmp_path / "m.yaml"), "--report", str(tmp_path / "r")]
    plain = CliRunner().invoke(cli, args, env=env)
    assert plain.exit_code == 2 and "bob.stone@example.com" in plain.output
    masked = CliRunner().invoke(cli, ["--log-format", "json", *args, "--mask-pii"], env=env)
    assert masked.exit_code == 2
    assert "bob.stone@example.com" not in masked.output
    assert "b***@example.com" in masked.output
