"""Both APIs side by side. The first block is the seed example, exactly: benchmarks rely on its names."""

from socketapi import SocketAPI

from .page import index
from .rooms import ChatRoomChannel, Multiply, RoomChannel

app = SocketAPI()


# Define "add_numbers" action - endpoint for performing calculations
@app.action("add_numbers")
async def add_numbers(a: int, b: int) -> int:
    return a + b


# Define "chat" channel - subscription for receiving messages
@app.channel("chat")
async def chat_channel(message: str = "Welcome"):
    return {"message": message}


# Action that sends a message to all "chat" channel subscribers
@app.action("send_message")
async def send_message(message: str):
    await chat_channel(message=message)


# The class API: a Phoenix-style channel with per-subscriber state, and an Action class.
app.register(RoomChannel, ChatRoomChannel, Multiply)

# The browser page at "/" (HTTP GET; the WebSocket stays at "/"): a chat room over /socketapi.js.
app.add_route("/", index, methods=["GET"])
