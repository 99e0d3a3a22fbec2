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
