"""Broadcasting from a process that serves nothing (a script, a cron job, a worker) to the server at host:port.

With a broker (Redis) every process reaches every node through it. With the default in-memory
backend the subscribers live inside the server process alone, so a script hands its broadcast to
that server over HTTP: ``POST /_socketapi/broadcast`` on ``http://host:port``, the body being the
broadcast's envelope (encoded once, by the script), signed with HMAC-SHA256.

The key is never guessable from outside: the server creates a random one at startup and writes it
to a file only its user can read (``$XDG_RUNTIME_DIR/socketapi/`` or ``<tmp>/socketapi-<uid>/``,
mode 0600, named by host and port, removed at shutdown); a script of the same user reads it. Workers
on other machines share an explicit secret instead (``broadcast_secret=`` or the
``SOCKETAPI_BROADCAST_SECRET`` environment variable). The source address is never trusted alone:
``broadcast_allowed_hosts`` narrows who may try, the signature decides. A signature covers a
timestamp and a nonce; requests older than :data:`WINDOW` seconds, or seen before, are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import os
import re
import secrets
import stat
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

from pydantic_core import from_json
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .exceptions import BackendError, RelayError
from .pubsub.message import Broadcast

logger = logging.getLogger("socketapi.relay")

PATH = "/_socketapi/broadcast"
"""Where the server accepts broadcasts from outside (relative to where the app is served)."""

SECRET_ENV = "SOCKETAPI_BROADCAST_SECRET"
"""Environment variable holding an explicit shared secret (both sides read it)."""

WINDOW = 30.0
"""Seconds a signed request stays valid; a request is accepted at most once within it."""

MAX_BODY = 4 * 1024 * 1024
"""Largest broadcast accepted from outside, in bytes of envelope (read only once the headers passed)."""

CONNECT_TIMEOUT = 5.0

_TS, _NONCE, _SIG = "x-socketapi-timestamp", "x-socketapi-nonce", "x-socketapi-signature"


# -- the shared key ----------------------------------------------------------------------------


def key_dir() -> Path:
    """A directory only this user can enter: under ``$XDG_RUNTIME_DIR`` if set, else the temp dir."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime) / "socketapi"
    return Path(tempfile.gettempdir()) / f"socketapi-{os.getuid()}"


def key_path(host: str, port: int) -> Path:
    """The key file of the server configured with ``host`` and ``port``."""
    return key_dir() / f"broadcast-{re.sub(r'[^A-Za-z0-9.-]', '_', host)}-{port}.key"


def _private_dir(path: Path) -> Path:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise RelayError(f"{path} must belong to this user with mode 0700; refusing to keep a broadcast key there")
    return path


def _write(path: Path, content: bytes) -> None:
    scratch = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(content)
    os.replace(scratch, path)  # atomic: a script never reads half a key


class KeyFile:
    """The server's key, written where a script of this user finds it (mode 0600) for as long as it runs.

    An app whose lifespan runs without serving at that address (a test with ``TestClient``
    while a development server runs) replaces the file for a while: at the end it puts back the
    key it found, so the server that was there keeps being reachable.
    """

    def __init__(self, host: str, port: int) -> None:
        self.path = key_path(host, port)
        self.key = secrets.token_hex(32).encode()
        _private_dir(self.path.parent)
        try:
            self._previous: bytes | None = self.path.read_bytes()
        except FileNotFoundError:
            self._previous = None
        _write(self.path, self.key)

    def remove(self) -> None:
        """Remove the file (or put back the key found there) if it still holds this key."""
        with contextlib.suppress(OSError):
            if self.path.read_bytes() != self.key:
                return  # another server replaced it since: it is theirs now
            if self._previous is not None:
                _write(self.path, self._previous)
            else:
                self.path.unlink()


def read_key(host: str, port: int) -> bytes:
    path = key_path(host, port)
    try:
        info = path.stat()
        if info.st_uid != os.getuid() or stat.S_IMODE(info.st_mode) & 0o077:
            raise RelayError(f"{path} must belong to this user with mode 0600; not using it")
        return path.read_bytes().strip()
    except FileNotFoundError:
        raise RelayError(
            f"No socketapi server of this user runs at {host}:{port} (no key at {path}); start it, "
            f"or set {SECRET_ENV} to reach one on another machine"
        ) from None


def explicit_secret(secret: str | bytes | None) -> bytes | None:
    """The secret given to the app, else the environment's, else ``None`` (use the key file)."""
    if secret is None:
        secret = os.environ.get(SECRET_ENV) or None
    if isinstance(secret, str):
        secret = secret.encode()
    return secret


# -- signing -----------------------------------------------------------------------------------


def sign(key: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    mac = hmac.new(key, f"{timestamp}\n{nonce}\n".encode(), hashlib.sha256)
    mac.update(body)
    return mac.hexdigest()


class Verifier:
    """Decides whether a request to the relay endpoint is genuine: source, signature, age, novelty."""

    def __init__(self, allowed_hosts: Iterable[str] | None, window: float = WINDOW) -> None:
        self.allowed_hosts = frozenset(allowed_hosts) if allowed_hosts is not None else None
        self.window = window
        self.key: bytes | None = None
        self._seen: dict[str, float] = {}

    def admission(self, client_host: str | None, headers: dict[str, str]) -> str | None:
        """Why the request is refused before its body is even read (source, key, headers, age), or ``None``."""
        if self.allowed_hosts is not None and "*" not in self.allowed_hosts and client_host not in self.allowed_hosts:
            return f"source address {client_host} is not in broadcast_allowed_hosts"
        if self.key is None:
            return "this server accepts no broadcasts from outside (no key: its lifespan did not run)"
        timestamp, nonce, signature = headers.get(_TS, ""), headers.get(_NONCE, ""), headers.get(_SIG, "")
        if not (timestamp and nonce and signature):
            return "unsigned request"
        try:
            age = abs(time.time() - float(timestamp))
        except ValueError:
            return "bad timestamp"
        if age > self.window:
            return f"stale request ({age:.0f} s apart; the window is {self.window:.0f} s)"
        return None

    def refusal(self, client_host: str | None, headers: dict[str, str], body: bytes) -> str | None:
        """Why the request is refused, or ``None`` to accept it (and remember its nonce)."""
        reason = self.admission(client_host, headers)
        if reason is not None:
            return reason
        assert self.key is not None
        nonce = headers[_NONCE]
        if not hmac.compare_digest(sign(self.key, headers[_TS], nonce, body), headers[_SIG]):
            return "bad signature"
        now = time.time()
        if len(self._seen) > 1000:  # forget nonces whose requests would be stale anyway
            self._seen = {n: t for n, t in self._seen.items() if t > now - self.window}
        if nonce in self._seen:
            return "replayed request"
        self._seen[nonce] = now
        return None


Publish = Callable[[Broadcast], Awaitable[None]]


def endpoint(verifier: Verifier, publish: Publish) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint that takes a signed broadcast and publishes it from this server."""

    def refuse(client: str | None, reason: str) -> Response:
        logger.warning("Refused a broadcast from outside (from %s): %s", client, reason)
        return JSONResponse({"error": reason}, status_code=403)

    async def relay(request: Request) -> Response:
        client = request.client.host if request.client else None
        headers = {k: request.headers.get(k, "") for k in (_TS, _NONCE, _SIG)}
        reason = verifier.admission(client, headers)
        if reason is not None:
            return refuse(client, reason)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return JSONResponse({"error": f"body over {MAX_BODY} bytes"}, status_code=413)
        reason = verifier.refusal(client, headers, body)
        if reason is not None:
            return refuse(client, reason)
        try:
            _node, message = Broadcast.from_envelope(body)
            from_json(message.payload)
        except (BackendError, ValueError) as exc:
            return JSONResponse({"error": f"malformed broadcast: {exc}"}, status_code=400)
        await publish(message)
        return Response(status_code=204)

    return relay


# -- the script's side -------------------------------------------------------------------------


class OutsideRelay:
    """Hands broadcasts made in a process that serves nothing to the server at ``host:port``."""

    def __init__(self, host: str, port: int, secret: str | bytes | None = None, path: str = PATH) -> None:
        self.host, self.port, self.path = host, port, path
        self._secret = secret

    def key(self) -> bytes:
        return explicit_secret(self._secret) or read_key(self.host, self.port)

    async def __call__(self, message: Broadcast) -> None:
        """Send ``message``; returns once the server has published it.

        Raises:
            RelayError: no server answered at ``host:port``, or it refused the broadcast.
        """
        body = message.to_envelope("outside")
        timestamp, nonce = f"{time.time():.3f}", secrets.token_hex(16)
        head = (
            f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/octet-stream\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n{_TS}: {timestamp}\r\n{_NONCE}: {nonce}\r\n"
            f"{_SIG}: {sign(self.key(), timestamp, nonce, body)}\r\n\r\n"
        )
        where = f"http://{self.host}:{self.port}{self.path}"
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT):
                reader, writer = await asyncio.open_connection(self.host, self.port)
                try:
                    writer.write(head.encode() + body)
                    await writer.drain()
                    response = await reader.read()
                finally:
                    writer.close()
                    with contextlib.suppress(OSError):
                        await writer.wait_closed()
        except (OSError, TimeoutError) as exc:
            raise RelayError(f"No server answered at {where} to take a broadcast on {message.topic!r}: {exc}") from exc
        status_line, _, rest = response.partition(b"\r\n")
        parts = status_line.split()
        if len(parts) < 2 or not parts[1].isdigit():
            raise RelayError(f"{where} did not answer as a socketapi server ({status_line[:80]!r})")
        status = int(parts[1])
        if status != 204:
            detail = rest.partition(b"\r\n\r\n")[2][:300].decode(errors="replace")
            raise RelayError(f"{where} refused a broadcast on {message.topic!r}: HTTP {status} {detail}")
