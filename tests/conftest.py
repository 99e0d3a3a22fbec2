"""Shared fixtures: a real sandbox server on 127.0.0.1 for each test that asks."""

from __future__ import annotations

import pytest

from connector.sandbox import SandboxServer


@pytest.fixture
def sandbox():
    """A started sandbox with campaign 6, user acme; jobs finish at the first look."""
    with SandboxServer(user="acme", token="s3cret-token-value", campaigns=[6],
                       job_seconds=0) as server:
        yield server


@pytest.fixture(autouse=True)
def own_state_home(tmp_path_factory, monkeypatch):
    """Every test gets its own per-user state home (the default state store and report
    directories live there), so no test reads or writes the real one."""
    import connector.state

    home = tmp_path_factory.mktemp("state-home")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    monkeypatch.delenv("CAMPAIGN_SYNC_STATE", raising=False)
    # a store a developer's own runs left in the old default place (./.campaign-sync)
    # is not the tests' business: they look for it in a directory of their own
    monkeypatch.setattr(connector.state.paths, "LEGACY_STATE",
                        home / "cwd" / ".campaign-sync" / "state.db")
    return home / "campaign-sync"
