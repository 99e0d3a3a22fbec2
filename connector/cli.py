"""The command line: click commands only. Each parses, calls the library, prints,
and maps errors to exit codes (see connector.errors.ExitCode)."""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any, Callable

import click

from . import __version__
from .errors import CampaignSyncError, ExitCode

log = logging.getLogger("campaign_sync")


class _State:
    config_file: str | None = None
    log_format: str = "text"
    verbosity: int = 0
    secrets: list[str] = []


def _fail(exc: BaseException, code: int) -> None:
    text = str(exc)
    for secret in _State.secrets:
        if secret:
            text = text.replace(secret, "***")
    click.echo(f"error: {text}", err=True)
    sys.exit(int(code))


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our exceptions into a one-line message and the right exit code."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except CampaignSyncError as exc:
            _fail(exc, exc.exit_code)
        except KeyboardInterrupt:
            _fail(RuntimeError("interrupted; run the command again to resume"), ExitCode.FAILED)
        except (click.exceptions.Exit, click.ClickException, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback
            log.debug("internal error", exc_info=True)
            _fail(RuntimeError(f"internal error: {type(exc).__name__}: {exc} "
                               "(run with -v for details)"), ExitCode.FAILED)

    return wrapper


def connection_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by every command that talks to the API."""
    opts = [
        click.option("--base-url", envvar=None, default=None, metavar="URL",
                     help="https://SUBDOMAIN.DOMAIN of the platform (or CAMPAIGN_SYNC_BASE_URL); "
                          "the client adds /apps/api/v1."),
        click.option("--api-user", default=None, metavar="USER",
                     help="HTTP Basic user (or CAMPAIGN_SYNC_API_USER); defaults to the "
                          "subdomain of the base URL."),
        click.option("--api-token", default=None, metavar="TOKEN",
                     help="API token, the HTTP Basic password (or CAMPAIGN_SYNC_API_TOKEN). "
                          "Never printed, logged or written."),
        click.option("--ca-bundle", default=None, type=click.Path(dir_okay=False),
                     help="PEM file of CA certificates to trust (TLS is always verified)."),
        click.option("--rate-limit", default=None, type=float, metavar="R",
                     help="Requests per second, all threads together (default 8; the "
                          "platform allows 10 per instance)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def settings_from(kwargs: dict[str, Any]):
    """Build Settings from the connection options, the environment and the config file."""
    from .config import resolve_settings

    flags = {k: kwargs.pop(k, None) for k in
             ("base_url", "api_user", "api_token", "ca_bundle", "rate_limit")}
    settings = resolve_settings(flags, config_file=_State.config_file)
    _State.secrets.append(settings.api_token)
    from .logs import redact_secrets

    redact_secrets("campaign_sync", settings.api_token)
    return settings


def _setup_logging(log_format: str, verbosity: int) -> None:
    level = logging.WARNING - 10 * verbosity
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        from .logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    root = logging.getLogger("campaign_sync")
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.DEBUG))
    root.propagate = False


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="campaign-sync")
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help="TOML settings file (default: campaign-sync.toml in the working "
                   "directory, if present). Flags beat CAMPAIGN_SYNC_* variables, which beat "
                   "the file.")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="json writes one JSON object per log event on stderr.")
@click.option("-v", "--verbose", count=True, help="More log output (repeat for more).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
def cli(config_file: str | None, log_format: str, verbose: int, quiet: bool) -> None:
    """Keep an outbound-dialer campaign's contacts in step with a CSV, Excel or JSON
    export.

    Exit codes: 0 done; 1 failed (safe to run again); 2 bad usage or unusable input
    (nothing sent); 3 done but some rows rejected or operations failed; 4 refused by
    a safety rule (nothing sent).
    """
    _State.config_file = config_file
    _State.log_format = log_format
    _State.verbosity = -1 if quiet else verbose
    _setup_logging(log_format, _State.verbosity)


# ---------------------------------------------------------------- API commands


@cli.command("export")
@click.option("--campaign-id", required=True, type=int, help="The campaign to read.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="Where to write the contacts: a .csv or .json file.")
@connection_options
@handle_errors
def export_cmd(campaign_id: int, output: str, **kwargs: Any) -> None:
    """Write every contact of a campaign, all fields, to a CSV or JSON file.

    Example: campaign-sync export --campaign-id 6 --output contacts.csv
    """
    from .api.client import ApiClient
    from .export import write_contacts

    settings = settings_from(kwargs)
    with ApiClient(settings) as client:
        contacts = client.contacts.list(campaign_id)
    n = write_contacts(contacts, output)
    click.echo(f"wrote {n} contacts of campaign {campaign_id} to {output}")


@cli.command("jobs")
@click.option("--campaign-id", required=True, type=int, help="The campaign the jobs belong to.")
@click.argument("job_ids", nargs=-1, type=int, required=True)
@connection_options
@handle_errors
def jobs_cmd(campaign_id: int, job_ids: tuple[int, ...], **kwargs: Any) -> None:
    """Show the status of import jobs.

    Example: campaign-sync jobs --campaign-id 6 530 531
    """
    from .api.client import ApiClient

    settings = settings_from(kwargs)
    failed = False
    with ApiClient(settings) as client:
        for job_id in job_ids:
            job = client.jobs.get(campaign_id, job_id)
            line = f"{job.id}\t{job.status}"
            if job.error_message or job.error_details:
                line += f"\t{job.error_message or ''}\t{job.error_details or ''}"
            failed = failed or job.status == "failed"
            click.echo(line)
    if failed:
        sys.exit(int(ExitCode.PARTIAL))


# ---------------------------------------------------------------- more commands
# (validate, sandbox and demo are added below)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="campaign-sync")


if __name__ == "__main__":
    main()
