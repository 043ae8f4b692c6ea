"""The repository rules live in one base class; memory and SQLite supply only I/O steps."""

from __future__ import annotations

import inspect

import pytest

from cis.adapters.memory import InMemoryInviteRepository
from cis.adapters.sqlite import SqliteInviteRepository
from cis.adapters.transactional_repository import TransactionalInviteRepository
from cis.ports.repository import InviteRepository

PORT_METHODS = {
    name for name, value in vars(InviteRepository).items()
    if callable(value) and not name.startswith("_")
}
BACKENDS = [InMemoryInviteRepository, SqliteInviteRepository]


def test_the_port_has_the_methods_this_module_checks() -> None:
    assert {"claim", "settle", "settle_then_claim", "apply_reply", "recount"} <= PORT_METHODS


def test_the_base_class_implements_every_method_of_the_port() -> None:
    missing = PORT_METHODS - set(vars(TransactionalInviteRepository))
    assert missing == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backend_inherits_every_port_method_and_overrides_none(backend: type) -> None:
    assert issubclass(backend, TransactionalInviteRepository)
    assert PORT_METHODS & set(vars(backend)) == set()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_backend_supplies_every_io_step(backend: type) -> None:
    assert not inspect.isabstract(backend)


def test_the_base_class_cannot_be_used_without_a_backend() -> None:
    with pytest.raises(TypeError):
        TransactionalInviteRepository()  # type: ignore[abstract]
