"""socketapi: real-time WebSocket APIs, actions and channels over one multiplexed socket."""

from .actions import Action
from .app import SocketAPI
from .channels import Channel, ChannelFunction, on_event
from .exceptions import (
    BackendError,
    FrameError,
    HandlerError,
    ImproperlyConfigured,
    InvalidFrame,
    InvalidParameters,
    JoinRefused,
    NotSubscribed,
    SocketAPIError,
    UnknownAction,
    UnknownChannel,
    UnknownEvent,
)
from .params import Depends, RequiredOnSubscribe
from .pubsub import InMemoryBackend, PubSubBackend
from .router import Router

__version__ = "0.3.0.dev0"

__all__ = [
    "Action",
    "BackendError",
    "Channel",
    "ChannelFunction",
    "Depends",
    "FrameError",
    "HandlerError",
    "ImproperlyConfigured",
    "InMemoryBackend",
    "InvalidFrame",
    "InvalidParameters",
    "JoinRefused",
    "NotSubscribed",
    "PubSubBackend",
    "RequiredOnSubscribe",
    "Router",
    "SocketAPI",
    "SocketAPIError",
    "UnknownAction",
    "UnknownChannel",
    "UnknownEvent",
    "on_event",
]
