// socketapi.js logic on plain data: Presence sync/diff, and recovery bookkeeping over a scripted
// WebSocket (no server). Run by tests/test_js_client.py.
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { Presence, Socket } from "../../socketapi/static/socketapi.js";

/** A WebSocket the test plays the server of: it records what the client sends and delivers frames. */
class ScriptedWebSocket {
  static last = null;
  constructor(url) {
    this.url = url;
    this.readyState = 0;
    this.sent = [];
    this.onopen = this.onclose = this.onerror = this.onmessage = null;
    ScriptedWebSocket.last = this;
    queueMicrotask(() => {
      this.readyState = 1;
      this.onopen?.({});
    });
  }
  send(text) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.readyState = 3;
  }
  // test side
  deliver(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  drop(code = 1006) {
    this.readyState = 3;
    this.onclose?.({ code, reason: "" });
  }
  lastSent(type) {
    return this.sent.findLast((frame) => frame.type === type);
  }
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

async function scripted() {
  const socket = new Socket("ws://test/", {
    WebSocket: ScriptedWebSocket,
    backoff: { initial: 1, max: 1, jitter: 0 },
    heartbeatInterval: 0,
  });
  await socket.connect();
  return socket;
}

/** Join `topic`, answering the subscribe with `extra` fields on `subscribed`. */
async function joined(socket, topic, extra = {}) {
  const channel = socket.channel(topic);
  const joining = channel.join();
  const ws = ScriptedWebSocket.last;
  const subscribe = ws.lastSent("subscribe");
  ws.deliver({ type: "subscribed", channel: topic, ref: subscribe.ref, ...extra });
  await joining;
  return channel;
}

async function reconnect(ws) {
  ws.drop();
  await new Promise((resolve) => setTimeout(resolve, 20)); // the 1 ms backoff, then the scripted open
  return ScriptedWebSocket.last;
}

describe("recovery bookkeeping", () => {
  test("rejoins with since = the last offset seen and the epoch of subscribed", async () => {
    const socket = await scripted();
    const channel = await joined(socket, "feed", { offset: 10, epoch: "e1" });
    const got = [];
    channel.on("data", (data, message) => got.push([data, message.offset]));
    let ws = ScriptedWebSocket.last;
    ws.deliver({ type: "data", channel: "feed", data: "a", offset: 11 });
    ws.deliver({ type: "data", channel: "feed", data: "b", offset: 12 });
    assert.deepEqual(channel.position, { offset: 12, epoch: "e1" });

    ws = await reconnect(ws);
    const subscribe = ws.lastSent("subscribe");
    assert.deepEqual(subscribe.since, { offset: 12, epoch: "e1" });
    assert.equal(subscribe.channel, "feed");
    const rejoins = [];
    channel.onRejoin((info) => rejoins.push(info));
    ws.deliver({ type: "subscribed", channel: "feed", ref: subscribe.ref, offset: 14, epoch: "e1", recovered: true });
    await tick();
    assert.deepEqual(rejoins, [{ reply: undefined, recovered: true }]);
    // Recovered: the position stays at 12 until the missed broadcasts arrive, so a second drop
    // in the middle of the replay would still ask for them.
    assert.deepEqual(channel.position, { offset: 12, epoch: "e1" });
    ws.deliver({ type: "data", channel: "feed", data: "c", offset: 13 });
    ws.deliver({ type: "data", channel: "feed", data: "b again", offset: 12 }); // a duplicate is dropped
    ws.deliver({ type: "data", channel: "feed", data: "d", offset: 14 });
    assert.deepEqual(got, [["a", 11], ["b", 12], ["c", 13], ["d", 14]]);
    socket.disconnect();
  });

  test("not recovered: the position restarts from the new subscribed, and the rejoin says so", async () => {
    const socket = await scripted();
    const channel = await joined(socket, "feed", { offset: 5, epoch: "old" });
    let ws = ScriptedWebSocket.last;
    ws.deliver({ type: "data", channel: "feed", data: "x", offset: 6 });
    ws = await reconnect(ws);
    const rejoins = [];
    channel.onRejoin((info) => rejoins.push(info));
    const subscribe = ws.lastSent("subscribe");
    assert.deepEqual(subscribe.since, { offset: 6, epoch: "old" });
    ws.deliver({ type: "subscribed", channel: "feed", ref: subscribe.ref, offset: 2, epoch: "new", recovered: false });
    await tick();
    assert.deepEqual(rejoins, [{ reply: undefined, recovered: false }]);
    assert.deepEqual(channel.position, { offset: 2, epoch: "new" });
    const got = [];
    channel.on("data", (data) => got.push(data));
    ws.deliver({ type: "data", channel: "feed", data: "y", offset: 3 });
    assert.deepEqual(got, ["y"]);
    socket.disconnect();
  });

  test("a topic without history rejoins without since, with its parameters", async () => {
    const socket = await scripted();
    const channel = socket.channel("room:1", { nick: "ann" });
    const joining = channel.join();
    let ws = ScriptedWebSocket.last;
    ws.deliver({ type: "subscribed", channel: "room:1", ref: ws.lastSent("subscribe").ref, data: { hi: 1 } });
    assert.deepEqual(await joining, { hi: 1 });
    assert.equal(channel.position, null);
    ws = await reconnect(ws);
    const subscribe = ws.lastSent("subscribe");
    assert.deepEqual(subscribe, { type: "subscribe", channel: "room:1", data: { nick: "ann" }, ref: subscribe.ref });
    socket.disconnect();
  });

  test("a left channel is not rejoined", async () => {
    const socket = await scripted();
    const channel = await joined(socket, "feed", { offset: 1, epoch: "e" });
    let ws = ScriptedWebSocket.last;
    const leaving = channel.leave();
    ws.deliver({ type: "unsubscribed", channel: "feed", ref: ws.lastSent("unsubscribe").ref });
    await leaving;
    ws = await reconnect(ws);
    assert.equal(ws.lastSent("subscribe"), undefined);
    socket.disconnect();
  });
});

const meta = (ref, extra = {}) => ({ phx_ref: ref, ...extra });

describe("Presence.syncState / syncDiff (phoenix.js semantics)", () => {
  test("syncState reports joins and leaves by key and by phx_ref", () => {
    const joins = [];
    const leaves = [];
    const onJoin = (key, current, joined) => joins.push([key, current, joined]);
    const onLeave = (key, current, left) => leaves.push([key, current, left]);
    const before = { ann: { metas: [meta("1")] }, bob: { metas: [meta("2")] } };
    const next = { ann: { metas: [meta("1"), meta("3")] }, cat: { metas: [meta("4")] } };
    const state = Presence.syncState(before, next, onJoin, onLeave);
    assert.deepEqual(state, { ann: { metas: [meta("1"), meta("3")] }, cat: { metas: [meta("4")] } });
    assert.deepEqual(joins, [
      ["ann", { metas: [meta("1")] }, { metas: [meta("3")] }],
      ["cat", undefined, { metas: [meta("4")] }],
    ]);
    assert.deepEqual(leaves, [["bob", { metas: [] }, { metas: [meta("2")] }]]);
    assert.deepEqual(before, { ann: { metas: [meta("1")] }, bob: { metas: [meta("2")] } }, "input left alone");
  });

  test("syncDiff adds metas to a key (two tabs) and removes the key with its last meta", () => {
    let state = Presence.syncDiff({}, { joins: { ann: { metas: [meta("1", { tab: 1 })] } }, leaves: {} });
    state = Presence.syncDiff(state, { joins: { ann: { metas: [meta("2", { tab: 2 })] } }, leaves: {} });
    assert.deepEqual(state.ann.metas.map((m) => m.tab), [1, 2]);
    state = Presence.syncDiff(state, { joins: {}, leaves: { ann: { metas: [meta("1")] } } });
    assert.deepEqual(state, { ann: { metas: [meta("2", { tab: 2 })] } });
    state = Presence.syncDiff(state, { joins: {}, leaves: { ann: { metas: [meta("2")] }, ghost: { metas: [meta("9")] } } });
    assert.deepEqual(state, {});
  });

  test("an update (same key, new phx_ref) replaces the meta in one diff", () => {
    let state = { ann: { metas: [meta("1", { status: "away" })] } };
    state = Presence.syncDiff(state, {
      joins: { ann: { metas: [meta("2", { status: "online", phx_ref_prev: "1" })] } },
      leaves: { ann: { metas: [meta("1", { status: "away" })] } },
    });
    assert.deepEqual(state, { ann: { metas: [meta("2", { status: "online", phx_ref_prev: "1" })] } });
  });

  test("list applies the chooser per key", () => {
    const state = { ann: { metas: [meta("1"), meta("2")] }, bob: { metas: [meta("3")] } };
    assert.deepEqual(Presence.list(state, (key, { metas }) => `${key}×${metas.length}`), ["ann×2", "bob×1"]);
    assert.deepEqual(Presence.list(state), [state.ann, state.bob]);
  });
});

describe("Presence on a channel", () => {
  test("holds diffs that come before the state, syncs on each, and starts over after a rejoin", async () => {
    const socket = await scripted();
    const channel = socket.channel("room:1", { nick: "ann" });
    const presence = new Presence(channel);
    const syncs = [];
    presence.onSync(() => syncs.push(presence.list((key) => key)));
    const joining = channel.join();
    let ws = ScriptedWebSocket.last;
    ws.deliver({ type: "subscribed", channel: "room:1", ref: ws.lastSent("subscribe").ref });
    await joining;
    assert.equal(presence.inPendingSyncState(), true);
    const diff = (joins, leaves = {}) => ({ type: "data", channel: "room:1", event: "presence_diff", data: { joins, leaves } });
    const state = (data) => ({ type: "data", channel: "room:1", event: "presence_state", data });
    ws.deliver(diff({ bob: { metas: [meta("b")] } })); // before the state: held
    assert.deepEqual(syncs, []);
    ws.deliver(state({ ann: { metas: [meta("a")] } }));
    assert.deepEqual(syncs, [["ann", "bob"]]);
    ws.deliver(diff({}, { bob: { metas: [meta("b")] } }));
    assert.deepEqual(syncs.at(-1), ["ann"]);

    ws = await reconnect(ws);
    ws.deliver({ type: "subscribed", channel: "room:1", ref: ws.lastSent("subscribe").ref });
    await tick();
    assert.equal(presence.inPendingSyncState(), true, "a rejoin waits for its own presence_state");
    ws.deliver(state({ cat: { metas: [meta("c")] } }));
    assert.deepEqual(syncs.at(-1), ["cat"], "the new state replaces the old one");
    socket.disconnect();
  });
});

describe("Presence agrees with phoenix.js", () => {
  test("the same states and diffs give the same state and the same callbacks", async () => {
    const { Presence: Phoenix } = await import("phoenix");
    const keys = ["ann", "bob", "cat"];
    let seed = 7;
    const random = (n) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    let ours = {};
    let theirs = {};
    let nextRef = 0;
    const live = []; // [key, ref]
    for (let step = 0; step < 300; step++) {
      const ourCalls = [];
      const theirCalls = [];
      const plain = (value) => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
      const record = (calls, kind) => (key, current, changed) => calls.push([kind, key, plain(current), plain(changed)]);
      if (step % 50 === 49) {
        // a full state, as after a rejoin
        const next = {};
        for (const [key, ref] of live) (next[key] ??= { metas: [] }).metas.push(meta(ref));
        ours = Presence.syncState(ours, next, record(ourCalls, "join"), record(ourCalls, "leave"));
        theirs = Phoenix.syncState(theirs, structuredClone(next), record(theirCalls, "join"), record(theirCalls, "leave"));
      } else {
        const joins = {};
        const leaves = {};
        if (live.length && random(2)) {
          const [key, ref] = live.splice(random(live.length), 1)[0];
          leaves[key] = { metas: [meta(ref)] };
        } else {
          const key = keys[random(keys.length)];
          const ref = String(++nextRef);
          live.push([key, ref]);
          joins[key] = { metas: [meta(ref)] };
        }
        const diff = { joins, leaves };
        ours = Presence.syncDiff(ours, diff, record(ourCalls, "join"), record(ourCalls, "leave"));
        theirs = Phoenix.syncDiff(theirs, structuredClone(diff), record(theirCalls, "join"), record(theirCalls, "leave"));
      }
      assert.deepEqual(plain(ours), plain(theirs), `state after step ${step}`);
      assert.deepEqual(ourCalls, theirCalls, `callbacks of step ${step}`);
    }
  });
});

describe("socketapi.d.ts matches socketapi.js", () => {
  test("every class, method and property the types declare exists", async () => {
    const { readFile } = await import("node:fs/promises");
    const module = await import("../../socketapi/static/socketapi.js");
    const types = await readFile(new URL("../../socketapi/static/socketapi.d.ts", import.meta.url), "utf8");
    const socket = new module.Socket("ws://test/", { WebSocket: ScriptedWebSocket });
    const channel = socket.channel("room:1");
    const instances = {
      Socket: socket,
      Channel: channel,
      Presence: new module.Presence(channel),
      SocketError: new module.SocketError("m", "c"),
    };
    const declared = [...types.matchAll(/^export class (\w+)[^{]*\{\n([\s\S]*?)^\}/gm)];
    assert.deepEqual(declared.map(([, name]) => name).sort(), Object.keys(instances).sort());
    assert.deepEqual(Object.keys(module).sort(), Object.keys(instances).sort());
    for (const [, name, body] of declared) {
      for (const [, isStatic, member] of body.matchAll(/^ {2}(static )?(?:readonly )?(\w+)[<(:?]/gm)) {
        if (member === "constructor") continue;
        const owner = isStatic ? module[name] : instances[name];
        assert.ok(member in owner, `${name}${isStatic ? "." : "#"}${member} is declared but missing`);
      }
    }
  });
});
