// socketapi.js against a real uvicorn (tests/apps/clients.py): run by tests/test_js_client.py.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { WebSocket } from "ws";

import { Socket, SocketError } from "../../socketapi/static/socketapi.js";
import { Server, sleep, until } from "./server.mjs";

const FAST = { WebSocket, backoff: { initial: 50, max: 400 }, timeout: 3000, connectTimeout: 2000 };

/** A connected socket, disconnected after the test file. */
const sockets = [];
async function connected(url, options = {}) {
  const socket = new Socket(url, { ...FAST, ...options });
  sockets.push(socket);
  await socket.connect();
  return socket;
}

/** Collect what a channel receives for `event`. */
function collect(channel, event) {
  const got = [];
  channel.on(event, (payload) => got.push(payload));
  return got;
}

async function rejects(promise, code) {
  const error = await promise.then(
    (value) => assert.fail(`expected a rejection with code ${code}, got ${JSON.stringify(value)}`),
    (error) => error,
  );
  assert.ok(error instanceof SocketError, `not a SocketError: ${error}`);
  assert.equal(error.code, code, error.message);
  return error;
}

let server;
before(async () => {
  server = await Server.start();
});
after(async () => {
  for (const socket of sockets) socket.disconnect();
  await server?.stop();
});

describe("calls", () => {
  test("resolve to the action's data, matched by ref", async () => {
    const socket = await connected(server.url);
    const results = await Promise.all([socket.call("sleep", { seconds: 0.2 }), socket.call("add", { a: 2, b: 3 })]);
    assert.deepEqual(results, ["slept", 5]);
    assert.equal(await socket.call("nothing"), undefined);
  });

  test("reject with the server's message and code; the socket carries on", async () => {
    const socket = await connected(server.url);
    let error = await rejects(socket.call("nope"), "unknown_action");
    assert.equal(error.message, "Action 'nope' not found.");
    assert.equal(error.channel, "nope");
    error = await rejects(socket.call("add", { a: "x", b: 1 }), "invalid_params");
    assert.equal(error.message, "Invalid parameters for action 'add'");
    error = await rejects(socket.call("fail", { why: "on purpose" }), "handler_error");
    assert.equal(error.message, "on purpose");
    assert.equal(await socket.call("add", { a: 1, b: 1 }), 2);
  });

  test("time out with code timeout; a late answer is ignored", async () => {
    const socket = await connected(server.url);
    const error = await rejects(socket.call("sleep", { seconds: 1 }, { timeout: 100 }), "timeout");
    assert.match(error.message, /sleep/);
    await sleep(1000); // the late answer arrives and must not disturb anything
    assert.equal(await socket.call("add", { a: 4, b: 4 }), 8);
  });

  test("made before connect() reject with code closed", async () => {
    const socket = new Socket(server.url, FAST);
    await rejects(socket.call("add", { a: 1, b: 1 }), "closed");
  });

  test("made while disconnected reject at once with whileDisconnected: reject", async () => {
    const socket = await connected(server.url, { whileDisconnected: "reject" });
    socket.disconnect();
    await rejects(socket.call("add", { a: 1, b: 1 }), "closed");
  });
});

describe("channels", () => {
  test("join, push, on, leave between two sockets", async () => {
    const ann = await connected(server.url);
    const bob = await connected(server.url);
    const annRoom = ann.channel("room:7", { nick: "ann" });
    const shouts = collect(annRoom, "shout");
    assert.deepEqual(await annRoom.join(), { room: 7, nick: "ann" });
    assert.equal(annRoom.state, "joined");
    const bobRoom = bob.channel("room:7", { nick: "bob" });
    await bobRoom.join();
    assert.deepEqual(await bobRoom.push("shout", { text: "hi" }), { ok: true });
    await until(() => shouts.length === 1, "ann to get bob's shout");
    assert.deepEqual(shouts, [{ from: "bob", text: "hi" }]);
    assert.deepEqual(await annRoom.push("whoami"), { nick: "ann" });

    await annRoom.leave();
    assert.equal(annRoom.state, "closed");
    await bobRoom.push("shout", { text: "after ann left" });
    assert.equal(await ann.call("add", { a: 1, b: 2 }), 3); // a round trip: anything sent to ann has arrived
    assert.equal(shouts.length, 1);
    await rejects(annRoom.push("whoami"), "not_subscribed");
  });

  test("broadcasts without an event name arrive as 'data'", async () => {
    const socket = await connected(server.url);
    const news = socket.channel("news");
    const got = collect(news, "data");
    await news.join();
    await socket.call("publish", { headline: "hello" });
    await until(() => got.length === 1, "the broadcast");
    assert.deepEqual(got, [{ headline: "hello" }]);
  });

  test("a refused join rejects with join_refused and the server's data", async () => {
    const socket = await connected(server.url);
    const room = socket.channel("room:1", { nick: "" });
    const error = await rejects(room.join(), "join_refused");
    assert.equal(error.message, "A nickname is required.");
    assert.deepEqual(error.data, { field: "nick" });
    assert.equal(room.state, "errored");
    await rejects(socket.channel("nope:1").join(), "unknown_channel");
    await rejects(socket.channel("room:x", { nick: "a" }).join(), "invalid_params");
    assert.deepEqual(await socket.channel("room:1", { nick: "ok" }).join(), { room: 1, nick: "ok" });
  });

  test("an event the channel does not handle rejects with unknown_event", async () => {
    const socket = await connected(server.url);
    const room = socket.channel("room:2", { nick: "a" });
    await room.join();
    await rejects(room.push("dance"), "unknown_event");
    await rejects(room.push("shout", { text: 5 }), "invalid_params");
    await rejects(room.push("wave", {}, { timeout: 200 }), "timeout"); // a handler that returns nothing sends no reply
    assert.deepEqual(await room.push("whoami"), { nick: "a" });
  });
});

describe("connection loss", () => {
  test("reconnects after the server restarts on the same port and rejoins every channel", async () => {
    const socket = await connected(server.url);
    const room = socket.channel("room:3", { nick: "ann" });
    const news = socket.channel("news");
    const headlines = collect(news, "data");
    await room.join();
    await news.join();
    const rejoins = [];
    room.onRejoin((info) => rejoins.push(info));
    const closes = [];
    socket.onClose((info) => closes.push(info));
    let opens = 0;
    socket.onOpen(() => opens++);

    await server.restart();
    await until(() => opens === 1 && rejoins.length === 1, "the reconnect and the rejoin", 15000);
    assert.equal(closes[0].willReconnect, true);
    assert.deepEqual(rejoins[0], { reply: { room: 3, nick: "ann" }, recovered: undefined });
    assert.deepEqual(await room.push("whoami"), { nick: "ann" }); // joined again with its parameters
    await until(() => news.state === "joined", "news to be rejoined");
    const other = await connected(server.url);
    await other.call("publish", { headline: "after the restart" });
    await until(() => headlines.length === 1, "the broadcast after the restart");
  });

  test("a call made while the server is down waits for the connection", async () => {
    const socket = await connected(server.url);
    await server.stop();
    await until(() => !socket.isConnected(), "the socket to notice");
    const pending = socket.call("add", { a: 20, b: 22 }, { timeout: 15000 });
    await server.start();
    assert.equal(await pending, 42);
  });

  test("connect() during a reconnect waits for the connection", async () => {
    const socket = await connected(server.url);
    await server.stop();
    await until(() => !socket.isConnected(), "the socket to notice");
    let settled = false;
    const again = socket.connect().finally(() => (settled = true));
    await sleep(300); // several attempts fail meanwhile
    assert.equal(settled, false);
    await server.start();
    await again;
    assert.equal(await socket.call("add", { a: 1, b: 1 }), 2);
  });

  test("a call in flight when the connection drops rejects with disconnected", async () => {
    const socket = await connected(server.url);
    const pending = socket.call("sleep", { seconds: 5 }, { timeout: 15000 });
    await sleep(100);
    const stopping = server.stop();
    await rejects(pending, "disconnected");
    await stopping;
    await server.start();
  });

  test("no reconnect after disconnect()", async () => {
    const socket = await connected(server.url);
    const closes = [];
    socket.onClose((info) => closes.push(info));
    let opens = 0;
    socket.onOpen(() => opens++);
    const room = socket.channel("room:4", { nick: "a" });
    await room.join();
    socket.disconnect();
    assert.equal(socket.state, "closed");
    assert.deepEqual(closes, [{ code: 1000, reason: "", willReconnect: false }]);
    await sleep(500); // ten backoff delays' worth
    assert.equal(opens, 0);
    assert.equal(socket.state, "closed");
  });

  test("a refused handshake is retried with backoff, not in a tight loop", async () => {
    let attempts = 0;
    class Counting extends WebSocket {
      constructor(...args) {
        super(...args);
        attempts++;
      }
    }
    const socket = new Socket(server.url, {
      ...FAST,
      WebSocket: Counting,
      params: { token: "bad" },
      backoff: { initial: 100, max: 5000, factor: 2, jitter: 0 },
    });
    sockets.push(socket);
    await rejects(socket.connect(), "connect_failed");
    await sleep(1600); // with backoff: retries at 100, 300, 700, 1500 ms; without: hundreds
    socket.disconnect();
    assert.ok(attempts >= 3 && attempts <= 6, `${attempts} attempts in 1.6 s`);
  });

  test("heartbeats detect a server that stopped answering, and the socket recovers when it is back", async () => {
    const socket = await connected(server.url, { heartbeatInterval: 200, heartbeatTimeout: 400, connectTimeout: 500 });
    const closes = [];
    socket.onClose((info) => closes.push(info));
    server.pause(); // SIGSTOP: the TCP connection stays open, nothing answers
    try {
      await until(() => closes.length >= 1, "the heartbeat to fail", 10000);
    } finally {
      server.resume();
    }
    assert.equal(closes[0].reason, "heartbeat timeout");
    assert.equal(closes[0].willReconnect, true);
    await until(() => socket.isConnected(), "the reconnect", 15000);
    assert.equal(await socket.call("add", { a: 1, b: 2 }), 3);
  });
});
