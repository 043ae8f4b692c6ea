"""Every repository adapter runs the same contract; add an adapter by adding a param."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository
from cis.adapters.sqlite import SqliteInviteRepository


@pytest.fixture(params=["memory", "dynamodb", "sqlite"])
def repository(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryInviteRepository()
    return request.getfixturevalue(f"{request.param}_repository")


@pytest.fixture
def sqlite_repository(tmp_path: Path) -> Iterator[SqliteInviteRepository]:
    with SqliteInviteRepository(path=tmp_path / "cis.db") as repository:
        yield repository
