"""Which web pages may open a socket: the origin policy, and what to tell the operator on refusal.

Origins protect browsers' users (cross-site WebSocket hijacking): a page on another site must not
open a socket with their cookies. Clients that send no ``Origin`` (not browsers) are always let in.

- ``allowed_origins`` given: exactly those origins (``"*"`` for any; ``"null"`` for pages that send
  ``Origin: null``: ``file://`` pages, sandboxed iframes).
- ``allowed_origins=None`` (the default): the page's host and port equal the ``Host`` the client
  connected to; and, for development, any loopback page (``localhost``, ``*.localhost``,
  ``127.0.0.0/8``, ``[::1]``, any port) when the socket itself was reached on loopback (its
  ``Host`` header and the server's own address are loopback). A server reached at a public name
  stays strict. ``Origin: null`` is refused unless listed: every sandboxed iframe on the web
  sends it too.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit


def is_loopback(host: str | None) -> bool:
    """``localhost``, ``*.localhost``, 127.0.0.0/8 or ::1 (brackets and case ignored)."""
    if not host:
        return False
    host = host.strip("[]").lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _hostname(netloc: str) -> str:
    return urlsplit(f"//{netloc}").hostname or ""


def refusal(
    origin: str | None, host_header: str, server: tuple[str, int | None] | None, allowed: Sequence[str] | None
) -> str | None:
    """Why a handshake with this ``Origin`` is refused (naming the setting that would allow it), or ``None``."""
    if origin is None:
        return None
    origin = origin.rstrip("/")
    if allowed is not None:
        if "*" in allowed or origin in allowed:
            return None
        return f"not in allowed_origins; add {origin!r} to SocketAPI(allowed_origins=[...]) to allow it"
    if origin == "null":
        return (
            "Origin: null (a file:// page or a sandboxed iframe) is refused by default; "
            "SocketAPI(allowed_origins=['null', ...]) allows every such page"
        )
    netloc = urlsplit(origin).netloc.lower()
    if netloc and netloc == host_header.lower():
        return None
    on_loopback = is_loopback(_hostname(host_header)) and server is not None and is_loopback(server[0])
    if on_loopback and is_loopback(urlsplit(origin).hostname):
        return None
    return (
        f"not the host the socket was reached at ({host_header or 'no Host header'}); "
        f"allow it with SocketAPI(allowed_origins=[{origin!r}])"
    )
