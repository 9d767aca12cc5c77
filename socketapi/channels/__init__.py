"""Channels: pub/sub endpoints, one instance per subscriber."""

from .base import Channel, on_event
from .function import ChannelFunction, FunctionChannel
from .route import ChannelRoute
from .topics import TopicPattern

__all__ = ["Channel", "ChannelFunction", "ChannelRoute", "FunctionChannel", "TopicPattern", "on_event"]
