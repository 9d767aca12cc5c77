"""Choosing a backend by URL: ``memory://`` or ``redis://`` / ``rediss://``, as in broadcaster."""

from __future__ import annotations

from urllib.parse import urlsplit

from ..exceptions import ImproperlyConfigured
from .base import PubSubBackend
from .memory import InMemoryBackend

SCHEMES = ("memory", "redis", "rediss")


def backend_from_url(url: str) -> PubSubBackend:
    """The backend a URL names; the Redis driver is imported only when a Redis URL is given.

    - ``memory://``: this process only (the default of ``SocketAPI()``).
    - ``redis://[[user]:password@]host[:port][/db][?prefix=...]`` and ``rediss://`` (TLS):
      every process connected to that Redis; see :class:`~socketapi.pubsub.redis.RedisBackend`.

    Raises:
        ImproperlyConfigured: an unknown scheme, or a Redis URL without the ``redis`` package.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        return InMemoryBackend()
    if scheme in ("redis", "rediss"):
        try:
            from .redis import RedisBackend
        except ImportError as exc:  # pragma: no cover - the test environment has redis
            raise ImproperlyConfigured(
                f"A {scheme}:// pub/sub URL needs the redis package: pip install 'socketapi[redis]'"
            ) from exc
        return RedisBackend(url)
    raise ImproperlyConfigured(
        f"Unknown pub/sub URL scheme {scheme!r}; expected one of {', '.join(s + '://' for s in SCHEMES)}"
    )
