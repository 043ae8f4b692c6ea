"""Every repository adapter runs the same contract; add an adapter by adding a param."""

from __future__ import annotations

from typing import Any

import pytest

from cis.adapters.memory import InMemoryInviteRepository


@pytest.fixture(params=["memory", "dynamodb"])
def repository(request: pytest.FixtureRequest) -> Any:
    if request.param == "memory":
        return InMemoryInviteRepository()
    return request.getfixturevalue(f"{request.param}_repository")
