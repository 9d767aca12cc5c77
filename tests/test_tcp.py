"""``listening_socket``: what a server handed it gets (TCP_USER_TIMEOUT, the family, a descriptor a child can take)."""

from __future__ import annotations

import os
import socket

import pytest

from socketapi.transport.tcp import listening_socket

USER_TIMEOUT = getattr(socket, "TCP_USER_TIMEOUT", None)


@pytest.mark.skipif(USER_TIMEOUT is None, reason="TCP_USER_TIMEOUT is Linux's")
def test_accepted_connections_inherit_the_user_timeout_10_s_by_default() -> None:
    for kwargs, expected in (({}, 10_000), ({"user_timeout": 2.5}, 2_500)):
        with listening_socket("127.0.0.1", 0, **kwargs) as sock:  # type: ignore[arg-type]
            assert sock.getsockopt(socket.IPPROTO_TCP, USER_TIMEOUT) == expected
            with socket.create_connection(sock.getsockname()[:2], timeout=5):
                accepted, _ = sock.accept()
                with accepted:
                    assert accepted.getsockopt(socket.IPPROTO_TCP, USER_TIMEOUT) == expected


@pytest.mark.skipif(USER_TIMEOUT is None, reason="TCP_USER_TIMEOUT is Linux's")
def test_none_leaves_the_system_default() -> None:
    with socket.socket() as plain, listening_socket("127.0.0.1", 0, user_timeout=None) as sock:
        assert sock.getsockopt(socket.IPPROTO_TCP, USER_TIMEOUT) == plain.getsockopt(socket.IPPROTO_TCP, USER_TIMEOUT)


def test_a_listening_tcp_socket_a_child_process_can_take() -> None:
    with listening_socket("127.0.0.1", 0) as sock:
        assert sock.type == socket.SOCK_STREAM
        assert sock.family == socket.AF_INET
        assert sock.get_inheritable()  # uvicorn --fd N in a child process
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR)
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN)


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback on this host")
def test_an_ipv6_host_gets_an_ipv6_socket() -> None:
    with listening_socket("::1", 0) as sock:
        assert sock.family == socket.AF_INET6
        assert sock.getsockname()[0] == "::1"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_port_in_use_raises_and_leaks_no_descriptor() -> None:
    with listening_socket("127.0.0.1", 0) as taken:
        port = taken.getsockname()[1]
        before = len(os.listdir("/proc/self/fd"))
        with pytest.raises(OSError, match="in use"):
            listening_socket("127.0.0.1", port)
        assert len(os.listdir("/proc/self/fd")) == before


def port_8000_free() -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", 8000))
        except OSError:
            return False
    return True


def test_by_default_loopback_on_port_8000() -> None:
    if not port_8000_free():
        pytest.skip("something of this host's listens on 8000")
    with listening_socket() as sock:
        assert sock.getsockname() == ("127.0.0.1", 8000)
