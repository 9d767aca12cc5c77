"""socketapi: real-time WebSocket APIs, actions and channels over one multiplexed socket."""

from .actions import Action
from .app import SocketAPI
from .channels import Channel, ChannelFunction, on_event
from .connection import Socket
from .exceptions import (
    BackendError,
    ConnectRefused,
    FrameError,
    HandlerError,
    ImproperlyConfigured,
    InvalidFrame,
    InvalidParameters,
    JoinRefused,
    LimitExceeded,
    NotSubscribed,
    RelayError,
    SocketAPIError,
    UnknownAction,
    UnknownChannel,
    UnknownEvent,
)
from .mount import SocketMount
from .params import Depends, RequiredOnSubscribe
from .pubsub import InMemoryBackend, PubSubBackend
from .router import Router
from .settings import Limits

__version__ = "0.3.0.dev0"

__all__ = [
    "Action",
    "BackendError",
    "Channel",
    "ChannelFunction",
    "ConnectRefused",
    "Depends",
    "FrameError",
    "HandlerError",
    "ImproperlyConfigured",
    "InMemoryBackend",
    "InvalidFrame",
    "InvalidParameters",
    "JoinRefused",
    "LimitExceeded",
    "Limits",
    "NotSubscribed",
    "PubSubBackend",
    "RelayError",
    "RequiredOnSubscribe",
    "Router",
    "Socket",
    "SocketAPI",
    "SocketAPIError",
    "SocketMount",
    "UnknownAction",
    "UnknownChannel",
    "UnknownEvent",
    "on_event",
]
