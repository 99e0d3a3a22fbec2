"""Every exception campaign-sync raises, grouped by what the caller should do.

The exit codes of product.md live here too, so one place maps errors to codes.
This module imports nothing of ours.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes, the same for every command."""

    OK = 0            # done; every write confirmed; rejects within the reject policy
    FAILED = 1        # network, API or internal error; safe to run again
    USAGE = 2         # bad usage or unusable input; nothing was sent
    PARTIAL = 3       # done, but writes failed/pending/unconfirmed, or rejects over the policy
    REFUSED = 4       # refused by a safety rule; nothing was sent


class RejectPolicy:
    """How many rejected source rows a run may have and still exit 0 (reported, with
    the run status ``done_with_rejects``): at most `max_rejects` rows and at most
    `max_reject_fraction` of the rows, each when set. With neither set, any reject
    makes the exit code 3, as a scheduler that must hear of every bad row wants."""

    def __init__(self, max_reject_fraction: float | None = None,
                 max_rejects: int | None = None) -> None:
        self.max_reject_fraction = max_reject_fraction
        self.max_rejects = max_rejects

    def allows(self, rejected: int, rows: int) -> bool:
        """Whether `rejected` of `rows` source rows are within the policy."""
        if rejected <= 0:
            return True
        if self.max_reject_fraction is None and self.max_rejects is None:
            return False
        if self.max_rejects is not None and rejected > self.max_rejects:
            return False
        if self.max_reject_fraction is not None and (
                rows <= 0 or rejected / rows > self.max_reject_fraction):
            return False
        return True

    def describe(self) -> str:
        """The policy in force, as the header of a report says it."""
        parts = []
        if self.max_rejects is not None:
            parts.append(f"at most {self.max_rejects:,} rows")
        if self.max_reject_fraction is not None:
            parts.append(f"at most {self.max_reject_fraction:.1%} of the rows")
        return " and ".join(parts) if parts else "none (any rejected row exits 3)"

    def exit_code(self, rejected: int, rows: int, problems: int = 0) -> ExitCode:
        """3 for failed, pending or unconfirmed writes (`problems`) or rejects beyond
        the policy; else 0."""
        if problems or not self.allows(rejected, rows):
            return ExitCode.PARTIAL
        return ExitCode.OK


class CampaignSyncError(Exception):
    """Base of every error campaign-sync raises on purpose."""

    exit_code: ExitCode = ExitCode.FAILED
    hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if hint is not None:
            self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}; {self.hint}" if self.hint else self.message


# --- fatal for this input: fix the input or the command line (exit 2) -------------


class UsageError(CampaignSyncError):
    """Bad command line or settings; nothing was sent."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """A setting is missing or malformed (flag, CAMPAIGN_SYNC_* variable or TOML file)."""


class SourceError(UsageError):
    """The source file cannot be read as contacts (unreadable, empty, missing sheet...)."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None,
                 column: str | None = None, hint: str | None = None) -> None:
        where = ", ".join(
            part for part in (
                path,
                f"line {line}" if line is not None else None,
                f"column {column!r}" if column is not None else None,
            ) if part
        )
        super().__init__(f"{where}: {message}" if where else message, hint=hint)
        self.path, self.line, self.column = path, line, column


class MappingError(UsageError):
    """A mapping file is malformed or names columns the source lacks."""


# --- refused by a safety rule (exit 4) --------------------------------------------


class SafetyRefusedError(CampaignSyncError):
    """A rule that protects data refused the run; nothing was sent."""

    exit_code = ExitCode.REFUSED


# --- failures talking to the platform (exit 1) ------------------------------------


class ApiError(CampaignSyncError):
    """The platform answered with an error, or could not be reached.

    Carries the HTTP status (if any), the server's message and the request
    (method and URL, never the credentials).
    """

    retriable: bool = False

    def __init__(self, message: str, *, status: int | None = None, method: str | None = None,
                 url: str | None = None, server_message: str | None = None,
                 hint: str | None = None) -> None:
        parts = [message]
        if method and url:
            parts.append(f"({method} {url}")
            parts[-1] += f" -> {status})" if status is not None else ")"
        elif status is not None:
            parts.append(f"(HTTP {status})")
        if server_message:
            parts.append(f"server said: {server_message}")
        super().__init__(" ".join(parts), hint=hint)
        self.status = status
        self.method = method
        self.url = url
        self.server_message = server_message


class AuthError(ApiError):
    """401/403: the token is wrong, disabled or regenerated."""


class NotFoundError(ApiError):
    """404: unknown campaign, contact or job."""


class BadRequestError(ApiError):
    """400/422: the platform refused the body."""


class PayloadTooLargeError(ApiError):
    """413: an import file is larger than the platform accepts."""


class RateLimitedError(ApiError):
    """429 that did not clear within the retry budget."""

    retriable = True


class ServerError(ApiError):
    """5xx that did not clear within the retry budget."""

    retriable = True


class TransportError(ApiError):
    """The request could not be sent or no answer came (DNS, refused, TLS, timeout)."""

    retriable = True


class AmbiguousWriteError(ApiError):
    """A write may or may not have taken effect (timeout or dropped connection after
    sending). Never repeat it blindly: look at the campaign first."""


class ProtocolError(ApiError):
    """The answer was not what the platform documents (not JSON, wrong shape)."""


class JobFailedError(ApiError):
    """An import job ended with status failed."""


class LockedError(CampaignSyncError):
    """Another run holds the campaign's lock."""
