"""Where campaign-sync keeps its state: the per-user state home, the default state
store, and the note for a store found in the old default place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

#: where the state store was kept before it had a home of its own (read if found)
LEGACY_STATE = Path(".campaign-sync") / "state.db"


def state_home(environ: Mapping[str, str] | None = None) -> Path:
    """campaign-sync's per-user directory: ``$XDG_STATE_HOME/campaign-sync``, else
    ``~/.local/state/campaign-sync``. The state store and the report directories live
    there, so a run started from any directory finds the same history and lock."""
    env = os.environ if environ is None else environ
    root = env.get("XDG_STATE_HOME") or ""
    base = Path(root) if root and Path(root).is_absolute() else Path.home() / ".local" / "state"
    return base / "campaign-sync"


def default_state_path(environ: Mapping[str, str] | None = None) -> Path:
    """The state store when no --state, CAMPAIGN_SYNC_STATE or TOML `state` names one:
    the store in the old default place (./.campaign-sync/state.db) when there is one,
    so nothing is lost, else the one in `state_home`."""
    if LEGACY_STATE.exists():
        return LEGACY_STATE.resolve()
    return state_home(environ) / "state.db"


def legacy_note(path: Path) -> str | None:
    """The one-line note for a store found in the old default place."""
    if path == LEGACY_STATE.resolve():
        return (f"using the state store in the old default place {path}; move it to "
                f"{state_home() / 'state.db'} (or pass --state) to use it from any directory")
    return None
