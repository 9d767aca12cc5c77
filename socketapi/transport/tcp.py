"""A listening TCP socket on which the kernel gives up on peers that stop taking data.

An ASGI app cannot abort a connection: when a client stops reading, the bytes already handed
to the server wait in its buffer, and the server keeps the descriptor until they are written.
socketapi lets go of such a socket within ``close_timeout`` (subscriptions, ``leave`` hooks,
tasks, queued frames); the descriptor itself is the server's. On Linux, ``TCP_USER_TIMEOUT``
makes the kernel drop a connection whose data stays unacknowledged, or unsent for a zero
window, longer than the timeout; set on the listening socket, every accepted connection
inherits it. Hand the socket to the server::

    sock = listening_socket("0.0.0.0", 8000, user_timeout=10)
    uvicorn.Server(uvicorn.Config(app)).run(sockets=[sock])   # or: uvicorn app:app --fd N
"""

from __future__ import annotations

import socket


def listening_socket(
    host: str = "127.0.0.1", port: int = 8000, *, user_timeout: float | None = 10.0, backlog: int = 2048
) -> socket.socket:
    """A bound, listening socket whose connections the kernel drops after ``user_timeout`` seconds of
    data the peer does not take (Linux; elsewhere the option is skipped). ``None`` leaves the system's default."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if user_timeout is not None and hasattr(socket, "TCP_USER_TIMEOUT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(user_timeout * 1000))
        sock.bind((host, port))
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)  # so that a server started as a child process can take it (--fd)
    return sock
