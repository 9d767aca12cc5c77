"""What a topic's history is, and the contract of the stores that keep it (SPEC 7.3)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..exceptions import ImproperlyConfigured
from ..types import StreamPosition

if TYPE_CHECKING:
    from ..pubsub import Broadcast, Hub
    from ..types import Subscriber

META_TTL = 30 * 24 * 3600
"""Seconds a topic's offset and epoch outlive its last broadcast (then the topic starts a new epoch)."""


@dataclass(frozen=True, slots=True)
class HistoryPolicy:
    """How much of a topic's past is kept: the last ``size`` broadcasts, for ``ttl`` seconds after the last one.

    Raises:
        ImproperlyConfigured: ``size`` is not a positive integer, or ``ttl`` not a positive number.
    """

    size: int
    ttl: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.size, int) or isinstance(self.size, bool) or self.size < 1:
            raise ImproperlyConfigured(f"history must be a positive number of broadcasts, got {self.size!r}")
        if self.ttl is not None and (isinstance(self.ttl, bool) or not isinstance(self.ttl, (int, float))):
            raise ImproperlyConfigured(f"history_ttl must be a number of seconds, got {self.ttl!r}")
        if self.ttl is not None and self.ttl <= 0:
            raise ImproperlyConfigured(f"history_ttl must be positive, got {self.ttl!r}")

    @classmethod
    def of(cls, size: int | None, ttl: float | None) -> HistoryPolicy | None:
        """The policy a channel declares, or ``None`` when it keeps no history."""
        if size is None or size == 0:
            if ttl is not None:
                raise ImproperlyConfigured("history_ttl needs history = N (how many broadcasts to keep)")
            return None
        return cls(size, ttl)


class Recovery(NamedTuple):
    """A topic's latest position and, when asked ``since`` a position, what the client missed.

    ``missed`` is ``None`` when the broadcasts after ``since`` are not all held any more (or the
    epoch changed): the client must reload its state. Otherwise it holds them, oldest first.
    """

    position: StreamPosition
    missed: list[Broadcast] | None


class HistoryStore(ABC):
    """Assigns offsets and keeps the last broadcasts of each topic that has history.

    A store also owns how a recorded broadcast travels: the offset must be assigned, the
    broadcast kept, and sent to every node as one step, so that every subscriber everywhere
    receives a topic's broadcasts in offset order.
    """

    @abstractmethod
    async def publish(
        self, hub: Hub, message: Broadcast, policy: HistoryPolicy, exclude: Subscriber | None = None
    ) -> None:
        """Give ``message`` the topic's next offset, keep it, and deliver it on every node.

        A store may return once the broadcast is queued (Redis's does); the order of publishing
        is the order of the offsets.
        """

    @abstractmethod
    async def read(self, topic: str, policy: HistoryPolicy, since: StreamPosition | None = None) -> Recovery:
        """The topic's position, and with ``since`` the broadcasts after it (see :class:`Recovery`).

        Raises:
            BackendError: the store is unreachable.
        """

    async def close(self) -> None:
        """Release connections; the store may be used again afterwards."""
        return None


def recoverable(position: StreamPosition, since: StreamPosition, first_held: int) -> bool:
    """Whether every broadcast after ``since`` is still held, ``first_held`` being the oldest offset kept."""
    if since.epoch != position.epoch or since.offset > position.offset:
        return False
    return since.offset == position.offset or since.offset + 1 >= first_held
