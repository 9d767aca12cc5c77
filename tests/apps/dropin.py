"""A socketapi 0.2.0 app, unchanged: host and port in the constructor, channel functions called from outside."""

import os

from socketapi import Router, SocketAPI

app = SocketAPI(host="127.0.0.1", port=int(os.environ.get("DROPIN_PORT", "8000")))
router = Router()


@app.channel("chat")
async def chat_channel(message: str = "Welcome"):
    return {"message": message}


@app.action("send_message")
async def send_message(message: str):
    await chat_channel(message=message)


@router.channel("news")
async def news_channel(headline: str):
    return {"headline": headline}


app.include_router(router)
