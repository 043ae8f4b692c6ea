"""Adapters that hold a connection open between calls close it at the end of a `with` block."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class ClosedOnExit(ABC):
    """`with adapter:` closes it on the way out, whatever happened inside."""

    @abstractmethod
    def close(self) -> None:
        """Release what the adapter holds open; a later call may open it again or refuse."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
