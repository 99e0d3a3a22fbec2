"""The state store (an embedded SQLite file) and where it lives; see `store`."""

from .paths import LEGACY_STATE, default_state_path, legacy_note, state_home
from .store import OP_STATUSES, SCHEMA_VERSION, Run, StateStore, utcnow

__all__ = ["LEGACY_STATE", "OP_STATUSES", "SCHEMA_VERSION", "Run", "StateStore",
           "default_state_path", "legacy_note", "state_home", "utcnow"]
