"""Connection settings: flags > CAMPAIGN_SYNC_* variables > TOML file > defaults."""

from __future__ import annotations

import difflib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

DEFAULT_CONFIG_FILE = "campaign-sync.toml"
ENV_PREFIX = "CAMPAIGN_SYNC_"
DEFAULT_RATE_LIMIT = 8.0
DEFAULT_REQUEST_DEADLINE = 120.0


@dataclass(frozen=True)
class Settings:
    """What a command needs to talk to the platform. `api_token` is never shown."""

    base_url: str
    api_user: str
    api_token: str = field(repr=False)
    rate_limit: float = DEFAULT_RATE_LIMIT
    ca_bundle: str | None = None
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    #: an upper bound on one request attempt, however steadily the bytes trickle in
    #: (the read timeout bounds only the gap between two of them)
    request_deadline: float = DEFAULT_REQUEST_DEADLINE

    @property
    def api_root(self) -> str:
        """The base URL with the API path the client adds."""
        return self.base_url.rstrip("/") + "/apps/api/v1"


KEYS = ("base_url", "api_user", "api_token", "rate_limit", "ca_bundle",
        "connect_timeout", "read_timeout", "request_deadline")
#: the options of the commands a TOML file may also give (the defaults of their flags);
#: `state` is --state, `report_root` the directory the default report directories go in
OPTION_KEYS = ("campaign_id", "mapping", "mode", "state", "report_root", "mask_pii",
               "max_delete_fraction", "max_reject_fraction", "max_rejects", "force",
               "chunk_size", "concurrency", "job_timeout", "full_check", "full_check_every",
               "trust_state")
#: a TOML key -> the name of the flag's parameter, where they differ
OPTION_PARAMS = {"state": "state_path"}


def read_config_file(path: str | None) -> dict[str, Any]:
    """Read the TOML file named by --config, or campaign-sync.toml if it exists."""
    explicit = path is not None
    p = Path(path or DEFAULT_CONFIG_FILE)
    if not p.exists():
        if explicit:
            raise ConfigError(f"config file {p} does not exist",
                              hint="check the --config path")
        return {}
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {p} is not valid TOML: {exc}") from None
    # settings may sit at the top level or under [campaign-sync]
    data = data.get("campaign-sync", data)
    known = (*KEYS, *OPTION_KEYS)
    unknown = sorted(set(k.replace("-", "_") for k in data) - set(known))
    if unknown:
        guesses = [f"{u!r}: did you mean {close[0]!r}?" for u in unknown
                   for close in [difflib.get_close_matches(u, known, n=1, cutoff=0.6)] if close]
        raise ConfigError(f"config file {p}: unknown setting(s) {', '.join(unknown)}"
                          + (f" ({'; '.join(guesses)})" if guesses else ""),
                          hint=f"known settings: {', '.join(known)}")
    return {k.replace("-", "_"): v for k, v in data.items()}


def option_defaults(values: Mapping[str, Any]) -> dict[str, Any]:
    """The command options a config file gives, by parameter name (its flags' defaults)."""
    return {OPTION_PARAMS.get(k, k): v for k, v in values.items() if k in OPTION_KEYS}


def subdomain_of(base_url: str) -> str:
    """`https://acme.uc1.example.com` -> `acme` (the default API user)."""
    host = urlsplit(base_url).hostname or ""
    return host.split(".")[0] if host else ""


def resolve_settings(flags: Mapping[str, Any], *, config_file: str | None = None,
                     environ: Mapping[str, str] | None = None) -> Settings:
    """Merge flags, environment and config file into Settings, or raise ConfigError."""
    env = os.environ if environ is None else environ
    file_values = read_config_file(config_file)
    merged: dict[str, Any] = {}
    for key in KEYS:
        value = flags.get(key)
        if value is None:
            value = env.get(ENV_PREFIX + key.upper()) or None
        if value is None:
            value = file_values.get(key)
        if value is not None:
            merged[key] = value
    base_url = merged.get("base_url")
    if not base_url:
        raise ConfigError("no base URL given",
                          hint="pass --base-url https://SUBDOMAIN.DOMAIN or set "
                               "CAMPAIGN_SYNC_BASE_URL")
    parts = urlsplit(str(base_url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"base URL {base_url!r} is not an http(s) URL",
                          hint="use the form https://SUBDOMAIN.DOMAIN")
    token = merged.get("api_token")
    if not token:
        raise ConfigError("no API token given",
                          hint="pass --api-token or set CAMPAIGN_SYNC_API_TOKEN "
                               "(created under Settings > Developer Settings > API Credentials)")
    user = merged.get("api_user") or subdomain_of(str(base_url))
    try:
        rate = float(merged.get("rate_limit", DEFAULT_RATE_LIMIT))
        connect_timeout = float(merged.get("connect_timeout", 10.0))
        read_timeout = float(merged.get("read_timeout", 60.0))
        deadline = float(merged.get("request_deadline", DEFAULT_REQUEST_DEADLINE))
    except (TypeError, ValueError):
        raise ConfigError("rate_limit and timeouts must be numbers") from None
    if rate <= 0:
        raise ConfigError(f"rate limit must be above 0, got {rate}")
    if connect_timeout <= 0 or read_timeout <= 0:
        raise ConfigError(f"timeouts must be above 0 seconds, got connect {connect_timeout}, "
                          f"read {read_timeout}")
    if deadline <= 0:
        raise ConfigError(f"request deadline must be above 0 seconds, got {deadline}")
    ca = merged.get("ca_bundle")
    if ca is not None and not Path(str(ca)).is_file():
        raise ConfigError(f"CA bundle {ca} does not exist",
                          hint="pass the path of a PEM file with --ca-bundle")
    return Settings(base_url=str(base_url).rstrip("/"), api_user=str(user),
                    api_token=str(token), rate_limit=rate,
                    ca_bundle=str(ca) if ca else None,
                    connect_timeout=connect_timeout, read_timeout=read_timeout,
                    request_deadline=deadline)
