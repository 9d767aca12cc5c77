// The official phoenix client (npm "phoenix", unmodified) against a socketapi app: SPEC 7.4.
//
// Run by tests/test_phoenix_client.py, which serves tests/apps/phoenix_app.py with uvicorn on a
// free loopback port (SOCKETAPI_HTTP), with an idle timeout of 1 s (so only heartbeats keep a
// socket alive), and relaunches it on the same port when the restart test stops it.
// Every wait is bounded: a missing frame fails its test instead of hanging the run.
import { afterEach, test } from "node:test";
import assert from "node:assert/strict";
import { Presence, Socket } from "phoenix";
import WebSocket from "ws";

const HTTP = process.env.SOCKETAPI_HTTP;
assert.ok(HTTP, "SOCKETAPI_HTTP must name the server under test");
const URL = `${HTTP.replace(/^http/, "ws")}/socket`;
const WAIT = 5000;

function within(promise, what, ms = WAIT) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no ${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function until(predicate, what, ms = WAIT) {
  const deadline = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sockets = [];
afterEach(() => {
  for (const socket of sockets.splice(0)) socket.disconnect();
});

function connect(opts = {}) {
  const socket = new Socket(URL, {
    transport: WebSocket,
    heartbeatIntervalMs: 300, // phoenix.js also waits this long for each reply: room for a loaded machine
    reconnectAfterMs: () => 100,
    rejoinAfterMs: () => 100,
    timeout: WAIT,
    ...opts,
  });
  socket.connect();
  sockets.push(socket);
  return socket;
}

function outcome(push) {
  return new Promise((resolve) => {
    push
      .receive("ok", (response) => resolve({ status: "ok", response }))
      .receive("error", (response) => resolve({ status: "error", response }))
      .receive("timeout", () => resolve({ status: "timeout" }));
  });
}

const join = (channel) => within(outcome(channel.join()), `join reply on ${channel.topic}`);
const push = (channel, event, payload) => within(outcome(channel.push(event, payload)), `reply to ${event}`);

function collect(channel, event) {
  const seen = [];
  channel.on(event, (payload) => seen.push(payload));
  return seen;
}

async function next(seen, what) {
  await until(() => seen.length > 0, what);
  return seen.shift();
}

async function post(path) {
  const response = await fetch(`${HTTP}${path}`, { method: "POST" });
  assert.equal(response.status, 200);
}

test("joins: ok with the join reply, refused with the reason and data, unmatched topic", async () => {
  const socket = connect();
  const room = socket.channel("room:1", { name: "ada" });
  assert.deepEqual(await join(room), { status: "ok", response: { room: "1", name: "ada" } });
  assert.equal(room.state, "joined");
  const locked = socket.channel("room:locked");
  assert.deepEqual(await join(locked), { status: "error", response: { reason: "locked", hint: "ask the owner" } });
  locked.leave(); // phoenix.js would otherwise retry the refused join
  const nowhere = socket.channel("nowhere");
  assert.deepEqual(await join(nowhere), { status: "error", response: { reason: "unmatched topic" } });
  nowhere.leave();
  assert.deepEqual(await push(room, "echo", { text: "still joined" }), {
    status: "ok",
    response: { text: "still joined" },
  });
});

test("push and reply; a handler returning None sends no reply; an exception is an error reply", async () => {
  const socket = connect();
  const messages = [];
  socket.onMessage((message) => messages.push(message));
  const room = socket.channel("room:2", { name: "ada" });
  await join(room);
  assert.deepEqual(await push(room, "echo", { text: "hi" }), { status: "ok", response: { text: "hi" } });
  assert.deepEqual(await push(room, "boom", {}), { status: "error", response: { reason: "boom!" } });
  assert.deepEqual(await push(room, "nope", {}), {
    status: "error",
    response: { reason: "Event 'nope' is not handled by channel 'room:2'." },
  });
  const whispers = collect(room, "whisper");
  const silent = room.push("whisper", { text: "psst" });
  assert.deepEqual(await next(whispers, "whisper push"), { text: "psst" });
  // The channel handles frames in order: once the next event is answered, a reply to the
  // first one would have arrived already.
  assert.deepEqual(await push(room, "echo", { text: "after" }), { status: "ok", response: { text: "after" } });
  assert.equal(messages.filter((m) => m.ref === silent.ref).length, 0);
});

test("broadcast reaches every subscriber; broadcast_from all but the sender; push only one", async () => {
  const rooms = [];
  const seen = [];
  for (const name of ["a", "b", "c"]) {
    const room = connect().channel("room:fan", { name });
    assert.equal((await join(room)).status, "ok");
    rooms.push(room);
    seen.push({ shout: collect(room, "shout"), others: collect(room, "others"), whisper: collect(room, "whisper") });
  }
  assert.deepEqual(await push(rooms[0], "shout", { text: "hello all" }), { status: "ok", response: { sent: true } });
  for (const s of seen) assert.deepEqual(await next(s.shout, "shout"), { from: "a", text: "hello all" });

  assert.deepEqual(await push(rooms[0], "others", { text: "not me" }), { status: "ok", response: { sent: true } });
  for (const s of seen.slice(1)) assert.deepEqual(await next(s.others, "others"), { from: "a", text: "not me" });
  // Local subscribers are written to before the sender's reply: had "a" been one, it would have it.
  assert.deepEqual(seen[0].others, []);

  rooms[1].push("whisper", { text: "only b" });
  assert.deepEqual(await next(seen[1].whisper, "whisper"), { text: "only b" });
  await push(rooms[1], "shout", { text: "barrier" }); // sent after the whisper, so it arrives after it
  for (const s of seen) assert.deepEqual(await next(s.shout, "barrier shout"), { from: "b", text: "barrier" });
  assert.deepEqual(seen[0].whisper, []);
  assert.deepEqual(seen[2].whisper, []);
});

test("decorator channels broadcast with the event 'data'", async () => {
  const feeds = [];
  for (let i = 0; i < 2; i++) {
    const news = connect().channel("news");
    assert.deepEqual(await join(news), { status: "ok", response: {} });
    feeds.push(collect(news, "data"));
  }
  await post("/_test/news?headline=extra");
  for (const feed of feeds) assert.deepEqual(await next(feed, "news broadcast"), { headline: "extra" });
});

test("leave: replied ok, the channel closes, its leave hook runs", async () => {
  const stay = connect().channel("room:leave", { name: "stay" });
  await join(stay);
  const lefts = collect(stay, "left");
  const go = connect().channel("room:leave", { name: "go" });
  await join(go);
  const closed = new Promise((resolve) => go.onClose(resolve));
  assert.deepEqual(await within(outcome(go.leave()), "leave reply"), { status: "ok", response: {} });
  await within(closed, "channel close");
  assert.equal(go.state, "closed");
  assert.deepEqual(await next(lefts, "left broadcast"), { name: "go" });
});

test("heartbeats keep an idle socket open over many intervals, with no reconnect", async () => {
  // The server closes a socket after 1 s without a frame: only the heartbeats keep this one.
  const socket = connect({ heartbeatIntervalMs: 300 });
  let opens = 0;
  let closes = 0;
  let errors = 0;
  socket.onOpen(() => opens++);
  socket.onClose(() => closes++);
  socket.onError(() => errors++);
  let replies = 0;
  socket.onMessage((m) => {
    if (m.topic === "phoenix" && m.event === "phx_reply" && m.payload.status === "ok") replies++;
  });
  await until(() => replies >= 12, "12 heartbeat replies", 15000); // 3.6 s at least: past the idle timeout thrice
  assert.equal(opens, 1);
  assert.equal(closes, 0);
  assert.equal(errors, 0);
  assert.ok(socket.isConnected());
});

test("connect params and the authToken reach the connect hook; the phoenix subprotocol is selected", async () => {
  const socket = connect({ params: { user: "ada" }, authToken: "s3cret token/+" });
  const room = socket.channel("room:who");
  await join(room);
  assert.equal(socket.conn.protocol, "phoenix");
  assert.deepEqual(await push(room, "whoami", {}), {
    status: "ok",
    response: { token: "s3cret token/+", params: { user: "ada", vsn: "2.0.0" } },
  });
  const refused = connect({ authToken: "forbidden", reconnectAfterMs: () => 60000 });
  const error = new Promise((resolve) => refused.onError(resolve));
  await within(error, "handshake refusal");
  assert.equal(refused.isConnected(), false);
});

test("a join that times out: phoenix.js leaves and rejoins, and drops the first join's late answers", async () => {
  const socket = connect();
  const slow = socket.channel("slow:1");
  const outcomes = [];
  slow
    .join(300) // the server's first join of this topic takes 1 s
    .receive("ok", () => outcomes.push("ok"))
    .receive("timeout", () => outcomes.push("timeout"));
  await until(() => outcomes.includes("ok"), "the rejoin's ok");
  assert.equal(outcomes[0], "timeout");
  // The first join finishes after the second; its late reply and its phx_close carry its own
  // join_ref, so phoenix.js drops them instead of closing the channel that replaced it.
  let stats;
  for (let i = 0; i < 100; i++) {
    stats = (await push(slow, "stats", {})).response;
    if (stats.leaves.length > 0) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.deepEqual(stats, { started: 2, joined: 2, leaves: ["left"] });
  assert.equal(slow.state, "joined");
  const ticks = collect(slow, "tick");
  await post("/_test/broadcast?topic=slow:1&event=tick&text=once");
  assert.deepEqual(await next(ticks, "tick"), { text: "once" });
  await push(slow, "stats", {});
  assert.deepEqual(ticks, []); // one subscription: the broadcast came once
});

test("presence: phoenix.js's Presence syncs from presence_state and presence_diff, unchanged", async () => {
  const alice = connect().channel("presence:lobby", { user: "alice" });
  const presence = new Presence(alice);
  let synced = [];
  presence.onSync(() => {
    synced = presence.list((id, { metas }) => ({ id, devices: metas.map((m) => m.device) }));
    synced.sort((a, b) => a.id.localeCompare(b.id));
  });
  await join(alice);
  await until(() => synced.length === 1, "alice's own presence (presence_state)");
  assert.deepEqual(synced, [{ id: "alice", devices: ["node"] }]);

  const bob = connect().channel("presence:lobby", { user: "bob" });
  await join(bob);
  await until(() => synced.length === 2, "bob's arrival (presence_diff joins)");
  const tab = connect().channel("presence:lobby", { user: "bob" }); // the same user on a second socket
  await join(tab);
  await until(() => synced.length === 2 && synced[1].devices.length === 2, "bob's second entry");
  assert.deepEqual(synced, [
    { id: "alice", devices: ["node"] },
    { id: "bob", devices: ["node", "node"] },
  ]);

  await within(outcome(bob.leave()), "bob's leave");
  await until(() => synced[1].devices.length === 1, "one of bob's entries leaving (presence_diff leaves)");
  tab.socket.disconnect(); // a socket that goes away untracks too
  await until(() => synced.length === 1, "bob's departure");
  assert.deepEqual(synced, [{ id: "alice", devices: ["node"] }]);
});

// Last: it stops the server (the test harness relaunches it on the same port).
test("a restarted server: the client reconnects and rejoins by itself, and gets the broadcasts made after", async () => {
  const socket = connect();
  let opens = 0;
  socket.onOpen(() => opens++);
  const room = socket.channel("room:restart", { name: "r" });
  let joins = 0;
  room.join().receive("ok", () => joins++); // phoenix.js calls this again for every rejoin
  await until(() => joins === 1, "the first join");
  await fetch(`${HTTP}/_test/stop`, { method: "POST" }).catch(() => {}); // the server may go before answering
  await until(() => joins === 2, "the rejoin after the restart", 30000);
  assert.ok(opens >= 2, `opened ${opens} time(s)`);
  const after = collect(room, "after");
  await post("/_test/broadcast?topic=room:restart&event=after&text=back");
  assert.deepEqual(await next(after, "broadcast after the restart"), { text: "back" });
});
