"""The command line: click commands only. Each parses, calls the library, prints,
and maps errors to exit codes (see connector.errors.ExitCode)."""

from __future__ import annotations

import functools
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from . import __version__
from .errors import CampaignSyncError, ExitCode

log = logging.getLogger("campaign_sync")


STATE_HELP = ("State store file (default: $XDG_STATE_HOME/campaign-sync/state.db, else "
              "~/.local/state/campaign-sync/state.db; a store in the old default place "
              "./.campaign-sync/state.db is used when found). Also CAMPAIGN_SYNC_STATE or "
              "the TOML file's `state`.")


class _State:
    report_root: str | None = None
    mask_pii: bool = False
    config_file: str | None = None
    log_format: str = "text"
    verbosity: int = 0
    secrets: list[str] = []


def _fail(exc: BaseException, code: int) -> None:
    from .privacy import scrub_secrets

    text = scrub_secrets(str(exc), _State.secrets)
    if _State.mask_pii:
        from .privacy import mask_text

        text = mask_text(text)
    if _State.log_format == "json":
        import json as _json
        import time as _time

        click.echo(_json.dumps({"ts": _time.strftime("%Y-%m-%dT%H:%M:%SZ", _time.gmtime()),
                                "level": "error", "logger": "campaign_sync", "event": "error",
                                "message": text, "exit_code": int(code)},
                               ensure_ascii=False), err=True)
    else:
        click.echo(f"error: {text}", err=True)
    sys.exit(int(code))


def _state_path(state_path: str | None) -> str:
    """The state store a command uses; a one-line note when it is the one found in the
    old default place."""
    from .state import default_state_path, legacy_note

    if state_path:
        return state_path
    path = default_state_path()
    note = legacy_note(path)
    if note:
        _note(f"note: {note}")
    return str(path)


def _masking(mask_pii: bool) -> None:
    """--mask-pii: from here on, phones and emails are masked in logs and messages too."""
    if mask_pii:
        from .logs import mask_logs

        _State.mask_pii = True
        mask_logs("campaign_sync")


def _note(text: str) -> None:
    """A line for the person at the terminal (stderr); an INFO event in JSON mode."""
    if _State.mask_pii:
        from .privacy import mask_text

        text = mask_text(text)
    if _State.log_format == "json":
        log.info(text, extra={"event": "note"})
    elif _State.verbosity >= 0:
        click.echo(text, err=True)


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
    # json is for schedulers and log shippers: every event (INFO) unless -q
    base = logging.INFO if log_format == "json" else logging.WARNING
    level = base - 10 * verbosity if verbosity >= 0 else logging.ERROR
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
@click.pass_context
def cli(ctx: click.Context, config_file: str | None, log_format: str, verbose: int,
        quiet: bool) -> None:
    """Keep an outbound-dialer campaign's contacts in step with a CSV, Excel or JSON
    export.

    Exit codes: 0 done; 1 failed (safe to run again); 2 bad usage or unusable input
    (nothing sent); 3 done but some rows rejected or operations failed; 4 refused by
    a safety rule (nothing sent).
    """
    _State.config_file = config_file
    _State.mask_pii = False  # set by a command's --mask-pii
    _State.log_format = log_format
    _State.verbosity = -1 if quiet else verbose
    _setup_logging(log_format, _State.verbosity)
    _option_defaults(ctx, config_file)


def _option_defaults(ctx: click.Context, config_file: str | None) -> None:
    """Every option a command takes may come from the TOML file (a flag still beats
    it): its values become the defaults of the commands that have such an option."""
    from .config import option_defaults, read_config_file
    from .errors import ConfigError

    try:
        values = option_defaults(read_config_file(config_file))
    except ConfigError as exc:
        _fail(exc, int(exc.exit_code))
        return
    _State.report_root = values.pop("report_root", None)
    if not values:
        return
    default_map: dict[str, dict[str, Any]] = {}
    for name, command in cli.commands.items():
        params = {p.name for p in command.params}
        mine = {k: v for k, v in values.items() if k in params}
        if mine:
            default_map[name] = mine
    ctx.default_map = default_map


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
    from .report import write_contacts

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
    """Show the status of import jobs (an id the platform does not know is reported
    as "not found" and the others are still shown). Exit 3 when a job failed or was
    not found.

    Example: campaign-sync jobs --campaign-id 6 530 531
    """
    from .api.client import ApiClient
    from .errors import NotFoundError

    settings = settings_from(kwargs)
    failed = False
    with ApiClient(settings) as client:
        for job_id in job_ids:
            try:
                job = client.jobs.get(campaign_id, job_id)
            except NotFoundError:  # one unknown id does not hide the others
                click.echo(f"{job_id}\tnot found\tno such job in campaign {campaign_id}")
                failed = True
                continue
            line = f"{job.id}\t{job.status}"
            if job.error_message or job.error_details:
                line += f"\t{job.error_message or ''}\t{job.error_details or ''}"
            failed = failed or job.status == "failed"
            click.echo(line)
    if failed:
        sys.exit(int(ExitCode.PARTIAL))


# ---------------------------------------------------------------- more commands
# (validate, sandbox and demo are added below)


def _summary_lines(validated: Any) -> list[str]:
    """The validate summary: what was read, how many rows are valid, rejects by reason."""
    from .contact import REASON_HINTS
    from .validate.schema import note_kind

    info, result = validated.info, validated.result
    where = info.format
    if info.encoding:
        where += f", {info.encoding}"
    if info.delimiter:
        where += f", delimiter {info.delimiter!r}"
    if info.sheet:
        where += f", sheet {info.sheet!r}"
    lines = [f"source    {info.path} ({where}; header on line {info.header_line})",
             f"mapping   {validated.mapping.path}",
             f"rows read {result.rows:>9,}",
             f"valid     {result.valid_count:>9,}",
             f"rejected  {result.rejected_count:>9,}"]
    by_reason = result.rejected_rows_by_reason
    for reason in sorted(by_reason, key=lambda r: (-by_reason[r], r)):
        lines.append(f"  {reason:<24}{by_reason[reason]:>9,}  {REASON_HINTS.get(reason, '')}")
    if len(result.notes):
        kinds = result.notes["note"].map(note_kind)
        lines.append(f"notes     {len(result.notes):>9,}")
        for kind, n in kinds.value_counts().items():
            first = result.notes[kinds.eq(kind)].iloc[0]
            lines.append(f"  {n:>9,}  {kind}, e.g. line {first['line']}: {first['note']}")
    for note in info.notes:
        lines.append(f"note: {note}")
    return lines


def reject_policy_options() -> list[Any]:
    """--max-reject-fraction and --max-rejects: the rejects a run may have and still
    exit 0."""
    return [
        click.option("--max-reject-fraction", default=None, type=click.FloatRange(0, 1),
                     metavar="F",
                     help="Rejected source rows up to this fraction of the rows are reported "
                          "but exit 0 (status done_with_rejects); more exit 3. Default: any "
                          "rejected row exits 3."),
        click.option("--max-rejects", default=None, type=click.IntRange(0), metavar="N",
                     help="Likewise, up to N rejected rows (with both, both must hold)."),
    ]


def _policy(max_reject_fraction: float | None, max_rejects: int | None) -> Any:
    from .errors import RejectPolicy

    return RejectPolicy(max_reject_fraction, max_rejects)


def _apply(make: Callable[[], list[Any]]) -> Callable[[Callable[..., Any]], Any]:
    """A decorator applying the options `make` returns, in order."""
    def wrap(func: Callable[..., Any]) -> Any:
        for opt in reversed(make()):
            func = opt(func)
        return func
    return wrap


@cli.command("validate")
@click.argument("source", type=click.Path(dir_okay=False))
@click.option("--mapping", "-m", "mapping", required=True, metavar="FILE",
              help="Mapping YAML file, or the name of a shipped one (generic, hubspot, "
                   "salesforce, zoho, ...).")
@click.option("--rejects", "rejects_file", default=None, type=click.Path(dir_okay=False),
              help="Write the rejected rows here (CSV): every original column, then line, "
                   "field, reason and a hint how to fix it.")
@click.option("--output", "-o", "output", default=None, type=click.Path(dir_okay=False),
              help="Write the valid, normalized contacts here: .json (the import file's "
                   "shape) or .csv.")
@click.option("--suppress", "suppress", multiple=True,
              type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="A suppression list (repeatable): says how many valid rows it holds "
                   "(plan and sync would not send them).")
@_apply(reject_policy_options)
@handle_errors
def validate_cmd(source: str, mapping: str, rejects_file: str | None,
                 output: str | None, suppress: tuple[str, ...],
                 max_reject_fraction: float | None, max_rejects: int | None) -> None:
    """Read SOURCE (CSV/TSV, .xlsx, JSON or JSON Lines), map it, normalize and check
    every row; no network.

    Prints rows read, valid and rejected by reason. Exit 0 when every row is
    valid (or the rejects are within --max-reject-fraction / --max-rejects), 3 when
    more were rejected, 2 when the file or mapping is unusable.

    Example: campaign-sync validate contacts.csv --mapping hubspot --rejects rejects.csv
    --output contacts.json
    """
    from .errors import UsageError
    from .pipeline import validate_source, write_rejects
    from .validate import write_valid

    if output and not output.lower().endswith((".csv", ".json")):
        raise UsageError(f"--output {output}: the file name must end in .csv or .json")
    validated = validate_source(source, mapping)
    result = validated.result
    if output:
        write_valid(result, output)
    if rejects_file:
        write_rejects(validated, rejects_file)
    if _State.verbosity >= 0:
        for line in _summary_lines(validated):
            click.echo(line)
    if output:
        click.echo(f"wrote {result.valid_count:,} valid contacts to {output}")
    if rejects_file:
        click.echo(f"wrote {result.rejected_count:,} rejected rows ({len(result.rejects):,} "
                   f"problems) to {rejects_file}")
    if suppress:
        from .pipeline import suppressed_rows

        n, files = suppressed_rows(validated, suppress)
        click.echo(f"{n:,} valid rows are on the suppression lists ({', '.join(files)}): "
                   "plan and sync would not send them")
    code = _policy(max_reject_fraction, max_rejects).exit_code(result.rejected_count,
                                                                 result.rows)
    if code:
        sys.exit(int(code))


def _default_report_dir(campaign_id: int) -> str:
    """REPORT_ROOT/campaign-ID-TIMESTAMP, the root being the TOML file's `report_root`
    or the reports directory beside the state store (an absolute path either way)."""
    import datetime as dt

    from .state import state_home

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    root = Path(_State.report_root) if _State.report_root else state_home() / "reports"
    return str((root / f"campaign-{campaign_id}-{stamp}").absolute())


def plan_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by plan and sync: what the plan may do."""
    opts = [
        click.option("--campaign-id", required=True, type=int,
                     help="The campaign to keep in step with SOURCE."),
        click.option("--mapping", "-m", "mapping", required=True, metavar="FILE",
                     help="Mapping YAML file, or a shipped name (generic, hubspot, "
                          "salesforce, zoho, ...)."),
        click.option("--mode", type=click.Choice(["add-only", "upsert", "mirror"]),
                     default="upsert", show_default=True,
                     help="add-only: only add; upsert: add and update; mirror: also delete "
                          "campaign contacts whose key is not in SOURCE."),
        click.option("--report", "report_dir", default=None, type=click.Path(file_okay=False),
                     help="Directory for report.html, plan.json, actions.csv, rejects.csv "
                          "(default reports/campaign-ID-TIMESTAMP)."),
        click.option("--mask-pii", is_flag=True,
                     help="Mask phones and emails (+1******6992, b***@example.com) in the "
                          "report files, the log and the messages."),
        click.option("--max-delete-fraction", default=0.10, show_default=True,
                     type=click.FloatRange(0, 1),
                     help="mirror refuses (exit 4) to delete more than this fraction of the "
                          "managed campaign contacts."),
        click.option("--force", is_flag=True,
                     help="Carry out deletes beyond --max-delete-fraction, or with no valid "
                          "source row."),
        click.option("--suppress", "suppress", multiple=True,
                     type=click.Path(dir_okay=False, exists=True), metavar="FILE",
                     help="A suppression list (CSV, Excel or JSON; repeatable): its phones "
                          "(any notation), emails or keys are never added or used to change "
                          "a contact's phone (action suppressed), and campaign contacts with "
                          "a suppressed phone are removed in upsert and mirror (under the "
                          "delete rule). The mapping's suppress: section names the columns; "
                          "else they are found by name."),
        click.option("--hold", "hold", multiple=True, metavar="KEY",
                     help="Hold this key (repeat for more): its row is neither added nor "
                          "updated, its contact neither patched nor deleted (deferred, "
                          "reason held) by this and every later plan, until `campaign-sync "
                          "holds release KEY`. Kept in the state store."),
        click.option("--holds-file", "holds_file", default=None,
                     type=click.Path(dir_okay=False, exists=True), metavar="FILE",
                     help="Hold every key in FILE: one a line (a first line `key` or "
                          "`external_unique_id` and lines starting with # are skipped), or "
                          "a CSV/Excel/JSON table with a key column (external_unique_id, "
                          "key, id or record id)."),
        *reject_policy_options(),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def run_plan(source: str, campaign_id: int, mapping: str, mode: str, report_dir: str | None,
             mask_pii: bool, max_delete_fraction: float, force: bool, settings: Any,
             command: str, policy: Any = None, out: str | None = None,
             state_path: str | None = None, hold: list[str] | None = None,
             suppress: tuple[str, ...] = ()) -> Any:
    """Validate SOURCE, read the campaign (GET only), build the plan, write the report
    (`pipeline.plan_run`), with a counter of the contacts read on a terminal."""
    from .pipeline import plan_run
    from .plan import PlanOptions

    counter = (_State.verbosity >= 0 and _State.log_format != "json"
               and sys.stderr.isatty())

    def told(text: str) -> None:
        if counter and text.startswith("read "):
            click.echo("", err=True)  # ends the line of the counter
        _note(text)

    done = plan_run(
        source=source, campaign_id=campaign_id, mapping=mapping,
        options=PlanOptions(mode=mode, max_delete_fraction=max_delete_fraction, force=force),
        settings=settings, report_dir=report_dir or _default_report_dir(campaign_id),
        mask_pii=mask_pii, command=command, policy=policy or _policy(None, None), out=out,
        state_path=state_path, hold=hold or (), suppress=suppress,
        reading=None if not counter else (
            lambda n: click.echo(f"\rreading campaign {campaign_id}: {n:,} contacts",
                                 err=True, nl=False)),
        echo=told)
    return done


def _plan_exit(plan: Any, policy: Any) -> None:
    if plan.refused:
        sys.exit(int(ExitCode.REFUSED))
    rejected = int((plan.rows["action"] == "rejected").sum())
    code = policy.exit_code(rejected, len(plan.rows))
    if code:
        sys.exit(int(code))


def _holds(hold: tuple[str, ...], holds_file: str | None) -> list[str]:
    """The keys of --hold and --holds-file (one a line, or a table with a key column)."""
    keys = [k.strip() for k in hold if k.strip()]
    if holds_file:
        from .extract.suppress import read_keys

        keys += read_keys(holds_file)
    return keys


@cli.command("plan")
@click.argument("source", type=click.Path(dir_okay=False))
@plan_options
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE",
              help="The state store holding the held keys (see --hold). " + STATE_HELP)
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False), metavar="FILE",
              help="Also write the plan to apply here (default: the report directory's "
                   "plan.json). `campaign-sync apply FILE` carries out exactly this plan. "
                   "Unlike the report, FILE is never masked.")
@connection_options
@handle_errors
def plan_cmd(source: str, campaign_id: int, mapping: str, mode: str, report_dir: str | None,
             mask_pii: bool, max_delete_fraction: float, force: bool,
             max_reject_fraction: float | None, max_rejects: int | None,
             hold: tuple[str, ...], holds_file: str | None, state_path: str | None,
             out: str | None, suppress: tuple[str, ...], **kwargs: Any) -> None:
    """Dry run: what a sync of SOURCE would add, update and delete in the campaign.

    Reads the campaign with GET requests only (nothing is written), prints counts
    per action and reason, and writes the report directory. Exit 0 when every row
    would be carried out, 3 when some rows are rejected, 4 when the delete safety
    rule refuses the run, 2 for an unusable file or mapping, 1 for a network or API
    failure.

    The plan can be reviewed, then carried out exactly with `campaign-sync apply
    PLAN.json` (see apply --help).

    Example: campaign-sync plan contacts.csv --campaign-id 6 --mapping hubspot
    --mode mirror --report reports/tonight --out tonight.plan.json
    """
    _masking(mask_pii)
    settings = settings_from(kwargs)
    policy = _policy(max_reject_fraction, max_rejects)
    done = run_plan(source, campaign_id, mapping, mode, report_dir, mask_pii,
                    max_delete_fraction, force, settings, command="plan", policy=policy,
                    out=out, state_path=_state_path(state_path),
                    hold=_holds(hold, holds_file), suppress=suppress)
    plan, files = done.plan, done.files
    for line in plan.summary_lines():
        click.echo(line)
    where = files.report_html or files.plan_json
    click.echo(f"report: {where.resolve()}")
    appliable = Path(out) if out else None if mask_pii else files.plan_json
    if appliable is not None and not plan.refused:
        click.echo(f"to send exactly this plan: campaign-sync apply {appliable.resolve()}")
    _plan_exit(plan, policy)


class _Bars:
    """Progress bars on a terminal (records per phase, with rate and ETA); nothing
    when stderr is not a terminal or with -q."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.enabled = (_State.verbosity >= 0 and _State.log_format != "json"
                        and sys.stderr.isatty())

    def start(self, phase: str, total: int) -> None:
        if self.enabled:
            import time

            self._started, self._done = time.monotonic(), 0
            self.bar = click.progressbar(length=total, label=f"{phase:<9}", file=sys.stderr,
                                         show_pos=True, show_eta=True, width=30,
                                         item_show_func=lambda rate: rate)
            self.bar.__enter__()

    def advance(self, n: int = 1) -> None:
        if self.bar is not None:
            import time

            self._done += n
            elapsed = max(time.monotonic() - self._started, 1e-6)
            self.bar.update(n, f"{self._done / elapsed:,.0f}/s")

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)
            self.bar = None


def _load_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by sync and apply: how the writes go out."""
    opts = [
        click.option("--chunk-size", default=1000, show_default=True,
                     type=click.IntRange(1, 10_000),
                     help="Contacts per import file (one job each); halved on a 413."),
        click.option("--concurrency", default=4, show_default=True, type=click.IntRange(1, 32),
                     help="Parallel PATCH and DELETE requests (all under --rate-limit)."),
        click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
                     envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP),
        click.option("--job-timeout", default=600.0, show_default=True,
                     type=click.FloatRange(1),
                     help="Seconds to wait for an import job; one still running is left "
                          "pending (the next run waits for it)."),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


def _print_outcome(outcome: Any) -> None:
    """What a sync or an apply did: the plan's counts, what was sent, verified, where
    the report is; exits with the run's code."""
    if outcome.plan is not None:
        for line in outcome.plan.summary_lines():
            click.echo(line)
    for message in outcome.messages:
        if not message.startswith("REFUSED:"):  # the summary lines above say it
            click.echo(message)
    load = outcome.counts.get("load", {})
    if load:
        click.echo(f"sent: deleted {load['deleted']:,}  updated {load['updated']:,}  added "
                   f"{load['added']:,}  failed {load['failed']:,}  pending {load['pending']:,}  "
                   f"({load['jobs']:,} import jobs)")
        click.echo(f"verified: {outcome.counts.get('verification', '')}")
    click.echo(f"run {outcome.run_id}; report: "
               f"{(outcome.report_html or outcome.report_dir or Path('.')).resolve()}")
    if outcome.exit_code:
        sys.exit(outcome.exit_code)


@cli.command("sync")
@click.argument("source", type=click.Path(dir_okay=False))
@plan_options
@click.option("--dry-run", is_flag=True, help="Plan and report only, like `plan`: no write.")
@click.option("--push-suppressed-to-dnc", "push_suppressed", is_flag=True,
              help="Also put the numbers this run suppressed on the company Do-Not-Call "
                   "list (see `dnc push`); refused numbers make the exit code 3.")
@click.option("--dnc-expires-at", default=None, metavar="DATE",
              help="With --push-suppressed-to-dnc: when the entries lapse (default never).")
@_load_options
@click.option("--full-check", is_flag=True,
              help="Normalize and compare every row, even those the state store knows to "
                   "be as the last run left them on both sides, and verify the writes by "
                   "reading the campaign again (otherwise a run of patches and deletes only "
                   "is verified from the platform's answers).")
@click.option("--full-check-every", default=0, show_default=True, type=click.IntRange(0),
              metavar="N", help="Make every Nth sync a full check (0: never by itself).")
@click.option("--trust-state", is_flag=True,
              help="Plan against the state store instead of reading the whole campaign "
                   "(only for campaigns nothing else writes to): platform-side changes and "
                   "active calls are not seen and nothing is verified. A warning says so; "
                   "pair it with --full-check-every N.")
@connection_options
@handle_errors
def sync_cmd(source: str, campaign_id: int, mapping: str, mode: str, report_dir: str | None,
             mask_pii: bool, max_delete_fraction: float, force: bool,
             max_reject_fraction: float | None, max_rejects: int | None, dry_run: bool,
             chunk_size: int, concurrency: int, state_path: str | None, job_timeout: float,
             full_check: bool, full_check_every: int, trust_state: bool,
             hold: tuple[str, ...], holds_file: str | None, suppress: tuple[str, ...],
             push_suppressed: bool, dnc_expires_at: str | None, **kwargs: Any) -> None:
    """Make the campaign match SOURCE: deletes, then updates, then adds, each write
    recorded in the state store first; then re-read the campaign to confirm every
    operation, and write the report.

    A run that was killed is finished by the next one (it waits for the jobs left
    running, then plans against the campaign as it is). A second sync of the same
    campaign while one runs exits 1. Exit codes: 0 all done and confirmed; 3 some rows
    rejected or operations failed/unconfirmed; 4 refused by the delete rule; 2 bad
    input; 1 network/API failure or locked (safe to run again).

    Example: campaign-sync sync contacts.csv --campaign-id 6 --mapping hubspot
    --mode mirror --report reports/tonight
    """
    _masking(mask_pii)
    settings = settings_from(kwargs)
    if dry_run:
        done = run_plan(source, campaign_id, mapping, mode, report_dir, mask_pii,
                        max_delete_fraction, force, settings,
                        command="sync --dry-run",
                        policy=_policy(max_reject_fraction, max_rejects),
                        state_path=_state_path(state_path), hold=_holds(hold, holds_file),
                        suppress=suppress)
        plan, files = done.plan, done.files
        for line in plan.summary_lines():
            click.echo(line)
        click.echo(f"report: {(files.report_html or files.plan_json).resolve()}")
        _plan_exit(plan, _policy(max_reject_fraction, max_rejects))
        return
    from .load import LoadOptions
    from .pipeline import sync_run
    from .plan import PlanOptions

    outcome = sync_run(
        source=source, campaign_id=campaign_id, mapping=mapping,
        plan_options=PlanOptions(mode=mode, max_delete_fraction=max_delete_fraction,
                                 force=force),
        load_options=LoadOptions(chunk_size=chunk_size, concurrency=concurrency,
                                 job_timeout=job_timeout),
        settings=settings, state_path=_state_path(state_path),
        report_dir=report_dir or _default_report_dir(campaign_id), mask_pii=mask_pii,
        progress=_Bars(), echo=_note, full_check=full_check,
        full_check_every=full_check_every, trust_state=trust_state,
        reject_policy=_policy(max_reject_fraction, max_rejects), hold=_holds(hold, holds_file),
        suppress=suppress, push_suppressed=push_suppressed, dnc_expires_at=dnc_expires_at)
    _print_outcome(outcome)


@cli.command("apply")
@click.argument("plan_file", type=click.Path(dir_okay=False))
@click.option("--report", "report_dir", default=None, type=click.Path(file_okay=False),
              help="Directory for the run's report (default reports/campaign-ID-TIMESTAMP).")
@click.option("--max-age", "max_age", default=24.0, show_default=True,
              type=click.FloatRange(0), metavar="HOURS",
              help="Refuse (exit 4) a plan made longer ago than this; 0: any age.")
@click.option("--refuse-if-stale", is_flag=True,
              help="Send nothing (exit 4) when any planned write is stale, instead of "
                   "sending the others.")
@click.option("--decisions", "decisions", default=None, type=click.Path(dir_okay=False),
              metavar="CSV",
              help="Send only the writes a steward approved: the decisions.csv the report "
                   "page downloads, or the plan's actions.csv with its decision column "
                   "filled (approve or reject; blank: approve). A refused write is reported "
                   "'refused by reviewer' with its comment; a write the file does not name "
                   "is not sent.")
@click.option("--mask-pii", is_flag=True,
              help="Mask phones and emails in the report files, the log and the messages.")
@click.option("--suppress", "suppress", multiple=True,
              type=click.Path(dir_okay=False, exists=True), metavar="FILE",
              help="A suppression list (repeatable): planned adds and updates whose phone, "
                   "email or key is on it now, or whose phone opted out since the plan, are "
                   "not sent (deferred, reason suppressed).")
@_load_options
@_apply(reject_policy_options)
@connection_options
@handle_errors
def apply_cmd(plan_file: str, report_dir: str | None, max_age: float, refuse_if_stale: bool,
              decisions: str | None, mask_pii: bool, suppress: tuple[str, ...],
              chunk_size: int, concurrency: int,
              state_path: str | None, job_timeout: float, max_reject_fraction: float | None,
              max_rejects: int | None, **kwargs: Any) -> None:
    """Carry out exactly the plan PLAN_FILE (written by `plan`, or its --out): the same
    adds, updates and deletes, in the same order and waves, through the same loader,
    state store, verification and report as `sync`. The source is not read.

    Before sending, the campaign is read: a write whose contact changed since the
    plan (edited, deleted, now on a call, its phone now held by another contact, its
    key added since) is `stale`: listed in the report, not sent. The delete rule is
    checked again. A plan applied before is not applied again; a killed apply is
    finished by the next apply of the same file.

    Exit codes: 0 all sent and confirmed (or already applied); 3 some writes stale,
    failed or unconfirmed; 4 refused (too old, --refuse-if-stale, the delete rule);
    2 the file is missing, edited or masked; 1 network/API failure or locked.

    Example: campaign-sync apply reports/tonight/plan.json --max-age 12
    --decisions ~/Downloads/decisions.csv
    """
    _masking(mask_pii)
    settings = settings_from(kwargs)
    from .load import LoadOptions
    from .pipeline import apply_run

    outcome = apply_run(
        plan_file=plan_file, settings=settings, state_path=_state_path(state_path),
        report_dir=report_dir or _default_report_dir,
        load_options=LoadOptions(chunk_size=chunk_size, concurrency=concurrency,
                                 job_timeout=job_timeout),
        max_age_hours=max_age, refuse_if_stale=refuse_if_stale, mask_pii=mask_pii,
        decisions=decisions, suppress=suppress, progress=_Bars(), echo=_note,
        reject_policy=None if max_reject_fraction is None and max_rejects is None
        else _policy(max_reject_fraction, max_rejects))
    _print_outcome(outcome)


def _listed(state_path: str | None, what: str, read: Callable[[Any], list[Any]]
            ) -> list[Any] | None:
    """What `read` finds in the state store; None (said) when there is no store yet."""
    from .state import StateStore

    path = Path(_state_path(state_path))
    if not path.exists():
        click.echo(f"no {what} (no state store yet)")
        return None
    with StateStore(path) as store:
        return read(store)


@cli.group("holds", invoke_without_command=True)
@click.option("--campaign-id", default=None, type=int, help="Only the holds of this campaign.")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP)
@click.pass_context
@handle_errors
def holds_cmd(ctx: click.Context, campaign_id: int | None, state_path: str | None) -> None:
    """The keys a steward holds: every plan, sync and apply leaves them alone (their
    rows deferred, reason held) until they are released. Without a subcommand, lists
    them. Keys are held with --hold / --holds-file of plan and sync, or `holds add`.

    Example: campaign-sync holds --campaign-id 6; campaign-sync holds release 5123
    """
    ctx.obj = {"campaign_id": campaign_id, "state_path": state_path}
    if ctx.invoked_subcommand is not None:
        return
    rows = _listed(state_path, "holds", lambda store: store.holds(campaign_id))
    if rows is None:
        return
    if not rows:
        click.echo("no holds")
    for row in rows:
        note = f"  {row['note']}" if row["note"] else ""
        click.echo(f"campaign {row['campaign_id']}  {row['key']}  held since "
                   f"{row['held_at']}{note}")


@holds_cmd.command("add")
@click.argument("keys", nargs=-1, required=True)
@click.option("--campaign-id", required=True, type=int, help="The campaign whose keys to hold.")
@click.option("--note", default="", help="Why (shown by `holds`).")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help="The state store (see holds --help).")
@click.pass_context
@handle_errors
def holds_add_cmd(ctx: click.Context, keys: tuple[str, ...], campaign_id: int,
                  note: str, state_path: str | None) -> None:
    """Hold KEYS of a campaign: left alone by every later plan until released."""
    from .state import StateStore

    with StateStore(_state_path(state_path or ctx.obj["state_path"])) as store:
        added = store.add_holds(campaign_id, keys, note)
    click.echo(f"campaign {campaign_id}: {added} key(s) held ({len(keys) - added} already)")


@holds_cmd.command("release")
@click.argument("keys", nargs=-1, required=True)
@click.option("--campaign-id", default=None, type=int,
              help="Release in this campaign only (default: every campaign holding them).")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help="The state store (see holds --help).")
@click.pass_context
@handle_errors
def holds_release_cmd(ctx: click.Context, keys: tuple[str, ...],
                      campaign_id: int | None, state_path: str | None) -> None:
    """Release KEYS: the next plan adds, patches or deletes them as the source says."""
    from .errors import UsageError
    from .state import StateStore

    path = Path(_state_path(state_path or ctx.obj["state_path"]))
    if not path.exists():
        raise UsageError(f"no state store at {path}", hint="pass the --state the holds are in")
    with StateStore(path) as store:
        campaigns = ([campaign_id] if campaign_id is not None else
                     sorted({h["campaign_id"] for h in store.holds()}))
        released = {c: store.release_holds(c, keys) for c in campaigns}
    for c, gone in released.items():
        if gone:
            click.echo(f"campaign {c}: released {', '.join(gone)}")
    missing = set(keys) - {k for gone in released.values() for k in gone}
    if missing:
        raise UsageError(f"not held: {', '.join(sorted(missing))}",
                         hint="list the holds with: campaign-sync holds")


@cli.group("optouts", invoke_without_command=True)
@click.option("--campaign-id", default=None, type=int, help="Only this campaign's opt-outs.")
@click.option("--released", is_flag=True, help="Also list the released ones.")
@click.option("--mask-pii", is_flag=True, help="Mask the numbers (+1******6992).")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP)
@click.pass_context
@handle_errors
def optouts_cmd(ctx: click.Context, campaign_id: int | None, released: bool, mask_pii: bool,
                state_path: str | None) -> None:
    """Numbers that opted out of a campaign: a contact seen in status Do Not Call, or
    removed because its number was on a suppression list. No later plan, sync or apply
    adds them back (action opted_out), even when no list holds them any more, until a
    person releases them. Without a subcommand, lists them.

    Example: campaign-sync optouts --campaign-id 6 --mask-pii
    """
    ctx.obj = {"state_path": state_path}
    if ctx.invoked_subcommand is not None:
        return
    from .privacy import mask_phone

    rows = _listed(state_path, "opt-outs",
                   lambda store: store.optouts(campaign_id, released=released))
    if rows is None:
        return
    if not rows:
        click.echo("no opt-outs")
    for row in rows:
        phone = mask_phone(row["phone"]) if mask_pii else row["phone"]
        gone = (f"; released {row['released_at']} by {row['released_by']}"
                if row["released_at"] else "")
        click.echo(f"campaign {row['campaign_id']}  {phone}  {row['reason']} since "
                   f"{row['opted_at']} (run {row['run_id']}){gone}")


@optouts_cmd.command("release")
@click.argument("phones", nargs=-1, required=True)
@click.option("--campaign-id", default=None, type=int,
              help="Release in this campaign only (default: every campaign).")
@click.option("--by", "by", default=None,
              help="Who releases them, for the ledger (default: the login name).")
@click.option("--note", default="", help="Why (kept in the ledger).")
@click.option("--region", default=None, metavar="CC",
              help="Country of national numbers given without +CC (e.g. US).")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help="The state store (see optouts --help).")
@click.pass_context
@handle_errors
def optouts_release_cmd(ctx: click.Context, phones: tuple[str, ...], campaign_id: int | None,
                        by: str | None, note: str, region: str | None,
                        state_path: str | None) -> None:
    """Release opted-out PHONES (any notation): later plans may add them again. Who
    released them, when and why goes into the ledger."""
    import getpass

    from .errors import UsageError
    from .normalize import normalize_phone
    from .state import StateStore

    numbers = []
    for raw in phones:
        e164, _reason, why = normalize_phone(raw, region)
        if not e164:
            raise UsageError(f"{raw!r} is not a phone number ({why or 'blank'})",
                             hint="write it as +CC..., or pass --region")
        numbers.append(e164)
    path = Path(_state_path(state_path or ctx.obj["state_path"]))
    if not path.exists():
        raise UsageError(f"no state store at {path}", hint="pass the --state of the syncs")
    who = by or getpass.getuser()
    with StateStore(path) as store:
        released = store.release_optouts(numbers, who, note, campaign_id)
    for row in released:
        click.echo(f"campaign {row['campaign_id']}: released {row['phone']} (by {who})")
    missing = sorted(set(numbers) - {r["phone"] for r in released})
    if missing:
        raise UsageError(f"not opted out: {', '.join(missing)}",
                         hint="list them with: campaign-sync optouts")


@cli.group("dnc")
def dnc_cmd() -> None:
    """The platform's company Do-Not-Call list: the dialer skips a listed number in every
    campaign (its contacts show status Do Not Call). push and remove send the numbers of
    CSV, Excel or JSON files (any notation; a phone column found by name) in batches of
    1,000; each number gets the platform's own status. The state store remembers what
    was pushed and until when, so pushing again sends nothing.

    Example: campaign-sync dnc push optouts.csv --expires-at 2027-12-31
    """


def _dnc_summary(result: Any, verb: str, unchanged: str) -> None:
    click.echo(f"{verb} {len(result.done):,} numbers; {len(result.already):,} {unchanged}; "
               f"{len(result.refused):,} refused")
    for number, status in result.refused:
        click.echo(f"  refused {number}: {status}")
    if result.refused_before:
        click.echo(f"{len(result.refused_before):,} refused by an earlier push, not sent "
                   "again:")
        for number, status in result.refused_before:
            click.echo(f"  refused before {number}: {status}")
    if result.refused:
        sys.exit(int(ExitCode.PARTIAL))


def _dnc_file_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """FILES, --region and --state: what dnc push and dnc remove share."""
    opts = [
        click.argument("files", nargs=-1, required=True,
                       type=click.Path(dir_okay=False, exists=True)),
        click.option("--region", default=None, metavar="CC",
                     help="Country of national numbers written without +CC (e.g. US)."),
        click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
                     envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP),
    ]
    for opt in reversed(opts):
        func = opt(func)
    return func


@dnc_cmd.command("push")
@click.option("--expires-at", default=None, metavar="DATE",
              help="When the entries lapse (ISO date or time, UTC unless it says); default "
                   "never. Pushing a listed number with another expiry updates it.")
@_dnc_file_options
@connection_options
@handle_errors
def dnc_push_cmd(files: tuple[str, ...], expires_at: str | None, region: str | None,
                 state_path: str | None, **kwargs: Any) -> None:
    """Add the numbers of FILES to the company Do-Not-Call list. Exit 3 when the platform
    refused some (invalid, an emergency number); they are listed."""
    from .pipeline import dnc_push_run, expiry
    from .state import utcnow

    lapse = expiry(expires_at)
    if lapse and lapse[:19] <= utcnow()[:19]:
        click.echo(f"warning: --expires-at {expires_at} is in the past: the entries lapse at "
                   "once and nothing stays on the list", err=True)
    result = dnc_push_run(files, settings=settings_from(kwargs),
                          state_path=_state_path(state_path), expires_at=expires_at,
                          region=region)
    _dnc_summary(result, "pushed", "already on the list (pushed before, same expiry)")


@dnc_cmd.command("remove")
@_dnc_file_options
@connection_options
@handle_errors
def dnc_remove_cmd(files: tuple[str, ...], region: str | None, state_path: str | None,
                   **kwargs: Any) -> None:
    """Take the numbers of FILES off the company Do-Not-Call list."""
    from .pipeline import dnc_remove_run

    result = dnc_remove_run(files, settings=settings_from(kwargs),
                            state_path=_state_path(state_path), region=region)
    _dnc_summary(result, "removed", "were not on the list")


@dnc_cmd.command("check")
@click.argument("phones", nargs=-1, required=True)
@click.option("--region", default=None, metavar="CC",
              help="Country of national numbers written without +CC (e.g. US).")
@connection_options
@handle_errors
def dnc_check_cmd(phones: tuple[str, ...], region: str | None, **kwargs: Any) -> None:
    """Whether each of PHONES is on the company Do-Not-Call list, and until when."""
    from .pipeline import dnc_check_run

    for answer in dnc_check_run(phones, settings=settings_from(kwargs), region=region):
        number = answer.get("phone_number")
        if answer.get("status") not in (None, "ok"):
            click.echo(f"{number}: {answer['status']}")
        elif answer.get("listed"):
            until = answer.get("expires_at")
            click.echo(f"{number}: listed" + (f" until {until}" if until else ""))
        else:
            click.echo(f"{number}: not listed")


def _since(text: str | None) -> str | None:
    """--since as the ledger's times are written (UTC ISO); UsageError when it is no
    date or time."""
    if not text:
        return None
    import datetime as dt

    from .errors import UsageError

    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"--since {text!r} is not an ISO date or time",
                         hint="e.g. --since 2026-12-01 or --since 2026-12-01T08:00:00+01:00"
                         ) from None
    if moment.tzinfo is None:
        return moment.isoformat() if len(text) > 10 else text
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


@cli.command("ledger")
@click.option("--campaign-id", required=True, type=int, help="The campaign to account for.")
@click.option("--since", default=None, metavar="DATE",
              help="Only events at or after this ISO date or time (2026-12-01).")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The CSV file to write.")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP)
@handle_errors
def ledger_cmd(campaign_id: int, since: str | None, output: str, state_path: str | None
               ) -> None:
    """The audit trail of a campaign: every contact removed (with the run and the
    reason: not_in_source, suppressed, rollback, ...), added back by a rollback, every
    opt-out and who released it, every number pushed to or removed from the company
    Do-Not-Call list, with when. Numbers and keys are hashed, numbers also masked.

    Example: campaign-sync ledger --campaign-id 6 --since 2026-12-01 -o ledger.csv
    """
    from .errors import UsageError
    from .pipeline import ledger_rows
    from .report.ledger import write_ledger

    path = Path(_state_path(state_path))
    if not path.exists():
        raise UsageError(f"no state store at {path}", hint="pass the --state of the syncs")
    n = write_ledger(ledger_rows(path, campaign_id), output, _since(since))
    click.echo(f"wrote {n:,} ledger events of campaign {campaign_id} to {output}")


@cli.command("runs")
@click.option("--campaign-id", default=None, type=int, help="Only the runs of this campaign.")
@click.option("--show", "show", default=None, type=int, metavar="RUN_ID",
              help="Details of one run: options, counts, operations by status, jobs.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1),
              help="How many runs to list, newest first.")
@click.option("--unlock", default=None, type=int, metavar="CAMPAIGN_ID",
              help="Remove a campaign's lock left by a process on another host that is gone.")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP)
@handle_errors
def runs_cmd(campaign_id: int | None, show: int | None, limit: int, unlock: int | None,
             state_path: str | None) -> None:
    """History of sync and rollback runs, with their counts and outcome.

    Example: campaign-sync runs --campaign-id 6; campaign-sync runs --show 12
    """
    import json as _json

    from .errors import UsageError
    from .state import StateStore

    path = Path(_state_path(state_path))
    if not path.exists():
        raise UsageError(f"no state store at {path}", hint="run a sync first, or pass --state")
    with StateStore(path) as store:
        if unlock is not None:
            removed = store.force_unlock(unlock)
            click.echo(f"campaign {unlock}: " + ("lock removed" if removed else "no lock"))
            return
        if show is not None:
            run = store.run(show)
            if run is None:
                raise UsageError(f"no run {show} in {path}")
            click.echo(f"run {run.id}: {run.command} of campaign {run.campaign_id}, "
                       f"{run.status} (exit {run.exit_code})")
            click.echo(f"  started {run.started_at}, ended {run.ended_at or '-'}")
            if run.source:
                click.echo(f"  source {run.source} (sha256 {run.source_sha256})")
            if run.mode:
                click.echo(f"  mode {run.mode}; options {_json.dumps(run.options)}")
            decided = (run.options or {}).get("decisions")
            if decided:
                who = "; ".join(f"{name or 'reviewer not named'}: approved {c['approved']:,}, "
                                f"rejected {c['rejected']:,}"
                                for name, c in decided.get("counts", {}).items())
                click.echo(f"  decisions {decided.get('file')} (sha256 {decided.get('sha256')})"
                           f": {who or 'none'}")
            if run.rollback_of:
                click.echo(f"  undoes run {run.rollback_of}")
            if run.report_dir:
                click.echo(f"  report {run.report_dir}")
            if run.message:
                click.echo(f"  {run.message}")
            for kind, statuses in sorted(store.op_counts(run.id).items()):
                click.echo(f"  {kind:<7} " + "  ".join(f"{k} {v:,}" for k, v in
                                                      sorted(statuses.items())))
            jobs = store.jobs(run.id)
            if jobs:
                by = {}
                for job in jobs:
                    by[job["status"]] = by.get(job["status"], 0) + 1
                click.echo("  jobs    " + "  ".join(f"{k} {v}" for k, v in sorted(by.items())))
                for job in jobs:  # each with the platform's id, for `campaign-sync jobs`
                    click.echo(f"    job {job['job_id'] if job['job_id'] is not None else '-'}"
                               f"\t{job['status']}\t{job['rows']:,} rows"
                               + (f"\t{job['error']}" if job.get("error") else ""))
            if run.counts:
                click.echo("  counts  " + _json.dumps(run.counts, sort_keys=True))
            return
        runs = store.runs(campaign_id, limit=limit)
        if not runs:
            click.echo("no runs")
            return
        click.echo(f"{'run':>5}  {'campaign':>8}  {'command':<9} {'mode':<8} {'status':<11} "
                   f"{'exit':>4}  {'started':<25} adds/updates/deletes")
        for run in runs:
            load = (run.counts or {}).get("load", {})
            writes = (f"{load.get('added', 0)}/{load.get('updated', 0)}/"
                      f"{load.get('deleted', 0)}" if load else "-")
            click.echo(f"{run.id:>5}  {run.campaign_id:>8}  {run.command:<9} "
                       f"{(run.mode or '-'):<8} {run.status:<11} "
                       f"{'' if run.exit_code is None else run.exit_code:>4}  "
                       f"{run.started_at:<25} {writes}")


@cli.command("rollback")
@click.argument("run_id", type=int)
@click.option("--dry-run", is_flag=True, help="Only list what would be undone; no write.")
@click.option("--report", "report_dir", default=None, type=click.Path(file_okay=False),
              help="Write rollback-actions.csv and rollback-refused.csv here.")
@click.option("--state", "state_path", default=None, type=click.Path(dir_okay=False),
              envvar="CAMPAIGN_SYNC_STATE", help=STATE_HELP)
@connection_options
@handle_errors
def rollback_cmd(run_id: int, dry_run: bool, report_dir: str | None, state_path: str | None,
                 **kwargs: Any) -> None:
    """Put the campaign back as it was before sync run RUN_ID: add back what it
    deleted, patch back what it changed, delete what it added. A contact that has
    changed since is refused and listed (exit 3).

    Example: campaign-sync rollback 12 --dry-run
    """
    from .pipeline import rollback_run

    settings = settings_from(kwargs)
    result = rollback_run(run_id=run_id, settings=settings, state_path=_state_path(state_path),
                          dry_run=dry_run, report_dir=report_dir, progress=_Bars())
    for line in rollback_lines(result, dry_run):
        click.echo(line)
    for r in result.refused:
        click.echo(f"  refused {r['kind']} of {r['key'] or r['remote_id']}: {r['reason']}")
    if not dry_run and result.run_id:
        click.echo(f"rollback run {result.run_id}: {result.confirmed} confirmed, "
                   f"{result.unconfirmed} not confirmed")
    if result.report_dir:
        click.echo(f"report: {result.report_dir.resolve()}")
    if result.exit_code:
        sys.exit(result.exit_code)


def rollback_lines(result: Any, dry_run: bool) -> list[str]:
    """What a rollback did, in its own terms: "deleted 2 contacts that run 12 had
    added" (with what happened to the writes when some did not go through)."""
    words = {"delete": ("deleted", "would delete", "that run {r} had added"),
             "update": ("patched back", "would patch back", "that run {r} had changed"),
             "add": ("added back", "would add back", "that run {r} had deleted")}
    lines = []
    for action in ("delete", "update", "add"):
        mine = [a for a in result.actions if a["action"] == action]
        if not mine:
            continue
        done, would, which = words[action]
        n = len(mine)
        text = (f"{would if dry_run else done} {n:,} contact{'s' if n != 1 else ''} "
                + which.format(r=result.of_run))
        outcomes: dict[str, int] = {}
        for a in mine:
            if a.get("outcome"):
                outcomes[a["outcome"]] = outcomes.get(a["outcome"], 0) + 1
        if set(outcomes) - {"done"}:
            text += " (" + ", ".join(f"{k} {v:,}" for k, v in sorted(outcomes.items())) + ")"
        lines.append(text)
    return lines or [f"run {result.of_run}: nothing to undo"]


@cli.command("sandbox")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; only loopback addresses unless --allow-remote.")
@click.option("--allow-remote", is_flag=True, help="Allow a host that is not a loopback address.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: any free port).")
@click.option("--campaign", "campaigns", multiple=True, type=int, default=(6,), show_default=True,
              help="A campaign id to serve (repeat for several).")
@click.option("--data", "data_file", default=None, type=click.Path(dir_okay=False),
              help="JSON file keeping the state across restarts (default: memory only).")
@click.option("--user", default="sandbox", show_default=True, help="HTTP Basic user to accept.")
@click.option("--token", default=None, help="HTTP Basic password to accept (default sandbox-token).")
@click.option("--latency-ms", default=0.0, type=float, show_default=True,
              help="Wait this long before answering each request.")
@click.option("--error-rate", default=0.0, type=float, show_default=True,
              help="Probability (0-1) of answering 500 before any effect.")
@click.option("--random-seed", default=None, type=int, help="Seed of the --error-rate draws.")
@click.option("--rate-limit", default=0, type=int, show_default=True,
              help="Requests per second let through (0: no limit); beyond, 429.")
@click.option("--no-retry-after", is_flag=True, help="Answer 429 without a Retry-After header.")
@click.option("--job-seconds", default=0.5, type=float, show_default=True,
              help="How long an import job stays in_progress.")
@click.option("--fail-jobs", default=0, type=int, show_default=True,
              help="Fail the next N import jobs.")
@click.option("--job-id-style", default="body", show_default=True,
              type=click.Choice(["body", "id", "header", "location", "none"]),
              help="Where the import's answer gives the job id.")
@click.option("--ignore-paging", is_flag=True,
              help="Ignore page/per and always list every contact.")
@click.option("--seed-contacts", default=0, type=int, show_default=True,
              help="Store N made-up contacts in each campaign at start.")
@click.option("--tls-cert", default=None, type=click.Path(exists=True, dir_okay=False),
              help="PEM certificate (chain) to serve HTTPS with; clients then need it, or "
                   "its CA, in --ca-bundle.")
@click.option("--tls-key", default=None, type=click.Path(exists=True, dir_okay=False),
              help="PEM private key of --tls-cert (default: read from the --tls-cert file).")
@handle_errors
def sandbox_cmd(host: str, allow_remote: bool, port: int, campaigns: tuple[int, ...],
                data_file: str | None, user: str, token: str | None, latency_ms: float,
                error_rate: float, random_seed: int | None, rate_limit: int,
                no_retry_after: bool, job_seconds: float, fail_jobs: int, job_id_style: str,
                ignore_paging: bool, seed_contacts: int, tls_cert: str | None,
                tls_key: str | None) -> None:
    """Run a local server that behaves like the platform's campaign endpoints, until Ctrl-C.

    Example: campaign-sync sandbox --port 8080 --campaign 6 --seed-contacts 100
    """
    import ssl

    from .sandbox import SandboxServer, fake_contacts, is_loopback

    if not allow_remote and not is_loopback(host):
        raise click.UsageError(f"{host} is not a loopback address; add --allow-remote")
    if tls_key and not tls_cert:
        raise click.UsageError("--tls-key needs --tls-cert")
    sb = SandboxServer(host=host, port=port, user=user, token=token or "sandbox-token",
                       campaigns=campaigns, data_file=data_file, latency_ms=latency_ms,
                       error_rate=error_rate, seed=random_seed, rate_limit=rate_limit or None,
                       retry_after_header=not no_retry_after, job_seconds=job_seconds,
                       fail_jobs=fail_jobs, job_id_style=job_id_style,
                       ignore_paging=ignore_paging, certfile=tls_cert, keyfile=tls_key)
    for cid in campaigns:
        if seed_contacts:
            sb.seed(cid, fake_contacts(seed_contacts), check=False)
    try:
        sb.start()
    except ssl.SSLError as exc:
        raise click.UsageError(f"--tls-cert/--tls-key: cannot load the certificate or key "
                               f"({exc})") from None
    except OSError as exc:
        import errno

        if exc.errno in (errno.EADDRINUSE, errno.EACCES):
            from .errors import UsageError

            raise UsageError(f"cannot listen on {host}:{port}: "
                             + ("the port is in use" if exc.errno == errno.EADDRINUSE
                                else "permission denied"),
                             hint="pick another with --port, or --port 0 for any free port"
                             ) from None
        raise
    click.echo(f"sandbox at {sb.url} (API under {sb.url}/apps/api/v1), campaigns "
               f"{', '.join(map(str, campaigns))}")
    click.echo(f"user: {user}; token: " + ("as given with --token" if token
                                           else "sandbox-token (default)"))
    try:
        sb.wait()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sb.stop()


@cli.command("demo")
@click.option("--output-dir", default="demo-output", show_default=True,
              type=click.Path(file_okay=False), help="Where the demo writes its files.")
@handle_errors
def demo_cmd(output_dir: str) -> None:
    """Start a sandbox, seed a campaign, then validate and plan the HubSpot sample export
    (with the report), refuse one delete in a steward's decisions file, apply the plan
    with those decisions, and sync again (nothing to send): the whole tool against a
    local server, no account needed.

    Example: campaign-sync demo --output-dir demo-output
    """
    from .demo import run_demo

    result = run_demo(Path(output_dir), echo=click.echo)
    click.echo(f"campaign now holds {result.contacts} contacts "
               f"(exported to {result.export_csv.resolve()})")
    click.echo(f"plan report: {result.plan_report.resolve()}")
    click.echo(f"steward's decisions: {result.decisions.resolve()}")
    click.echo(f"apply report: {result.sync_report.resolve()}")
    if result.second_sync_writes:
        sys.exit(int(ExitCode.FAILED))


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="campaign-sync")


if __name__ == "__main__":
    main()
