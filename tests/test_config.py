"""Settings: flags beat CAMPAIGN_SYNC_* variables, which beat the TOML file."""

from __future__ import annotations

import pytest

from connector.config import resolve_settings
from connector.errors import ConfigError


def test_precedence_flag_env_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('base_url = "https://file.uc1.example.com"\napi_token = "file-token"\n'
                   'rate_limit = 5\n')
    env = {"CAMPAIGN_SYNC_BASE_URL": "https://env.uc1.example.com"}
    s = resolve_settings({}, config_file=str(cfg), environ=env)
    assert s.base_url == "https://env.uc1.example.com"
    assert s.api_user == "env"  # the subdomain of the base URL
    assert s.api_token == "file-token" and s.rate_limit == 5
    s = resolve_settings({"base_url": "https://flag.example.com", "api_user": "me"},
                         config_file=str(cfg), environ=env)
    assert s.base_url == "https://flag.example.com" and s.api_user == "me"
    assert s.api_root == "https://flag.example.com/apps/api/v1"
    assert "file-token" not in repr(s)


def test_section_and_dashes_in_file(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[campaign-sync]\nbase-url = "https://a.b.c"\napi-token = "t"\n')
    assert resolve_settings({}, config_file=str(cfg), environ={}).base_url == "https://a.b.c"


@pytest.mark.parametrize("flags,needle", [
    ({}, "no base URL"),
    ({"base_url": "ftp://x"}, "not an http(s) URL"),
    ({"base_url": "https://a.b.c"}, "no API token"),
    ({"base_url": "https://a.b.c", "api_token": "t", "rate_limit": 0}, "rate limit"),
    ({"base_url": "https://a.b.c", "api_token": "t", "ca_bundle": "/nope.pem"}, "CA bundle"),
])
def test_errors_say_what_to_do(flags, needle):
    with pytest.raises(ConfigError) as info:
        resolve_settings(flags, config_file=None, environ={})
    assert needle in str(info.value)
    assert info.value.exit_code == 2


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_settings({}, config_file=str(tmp_path / "missing.toml"), environ={})
    bad = tmp_path / "bad.toml"
    bad.write_text("base_url = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        resolve_settings({}, config_file=str(bad), environ={})
    odd = tmp_path / "odd.toml"
    odd.write_text('base_urll = "x"\n')
    with pytest.raises(ConfigError, match="unknown setting"):
        resolve_settings({}, config_file=str(odd), environ={})


def test_timeouts_and_deadline_from_env_and_file(tmp_path):
    base = {"base_url": "https://a.b.c", "api_token": "t"}
    s = resolve_settings(base, config_file=None, environ={})
    assert (s.connect_timeout, s.read_timeout, s.request_deadline) == (10.0, 60.0, 120.0)
    cfg = tmp_path / "c.toml"
    cfg.write_text("read_timeout = 30\nrequest_deadline = 45\n")
    env = {"CAMPAIGN_SYNC_CONNECT_TIMEOUT": "3", "CAMPAIGN_SYNC_REQUEST_DEADLINE": "90"}
    s = resolve_settings(base, config_file=str(cfg), environ=env)
    assert (s.connect_timeout, s.read_timeout, s.request_deadline) == (3.0, 30.0, 90.0)


@pytest.mark.parametrize("key,value,needle", [
    ("CAMPAIGN_SYNC_REQUEST_DEADLINE", "0", "request deadline"),
    ("CAMPAIGN_SYNC_READ_TIMEOUT", "-1", "timeouts must be above 0"),
    ("CAMPAIGN_SYNC_CONNECT_TIMEOUT", "0", "timeouts must be above 0"),
    ("CAMPAIGN_SYNC_READ_TIMEOUT", "soon", "must be numbers"),
])
def test_bad_timeouts_are_refused(key, value, needle):
    with pytest.raises(ConfigError, match=needle) as info:
        resolve_settings({"base_url": "https://a.b.c", "api_token": "t"}, config_file=None,
                         environ={key: value})
    assert info.value.exit_code == 2
