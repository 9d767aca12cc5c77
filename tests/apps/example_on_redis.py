"""The example app on a Redis backend (``CLIENTS_TEST_PUBSUB``), so that its history outlives a server restart."""

from __future__ import annotations

import os

from example_app.page import index
from example_app.rooms import ChatRoomChannel, Multiply
from socketapi import SocketAPI

app = SocketAPI(pubsub=os.environ["CLIENTS_TEST_PUBSUB"])
app.register(ChatRoomChannel, Multiply)
app.add_route("/", index, methods=["GET"])
