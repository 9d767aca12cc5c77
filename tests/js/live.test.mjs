// socketapi.js with presence and history on the server (tests/apps/clients_live.py): presence
// lists across sockets, and recovery with no missed message across a server restart.
// Run by tests/test_js_client.py; CLIENTS_TEST_PUBSUB is a Redis URL with a prefix of the run's own.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { WebSocket } from "ws";

import { Presence, Socket } from "../../socketapi/static/socketapi.js";
import { Server, sleep, until } from "./server.mjs";

const APP = "tests.apps.clients_live:app";
const FAST = { WebSocket, backoff: { initial: 50, max: 400 }, timeout: 5000, connectTimeout: 2000 };
const REDIS = process.env.CLIENTS_TEST_PUBSUB;

const cleanup = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
});

async function connected(url) {
  const socket = new Socket(url, FAST);
  cleanup.push(async () => socket.disconnect());
  await socket.connect();
  return socket;
}

async function started(env = {}, port = undefined) {
  const server = await Server.start(APP, { env, port });
  cleanup.push(() => server.stop());
  return server;
}

/** The keys of a presence list, sorted, with the number of metas of each. */
const people = (presence) => presence.list((key, { metas }) => `${key}×${metas.length}`).sort();

describe("presence", () => {
  test("every socket sees the same list, one key with several metas, and leaves", async () => {
    const server = await started();
    const lobby = async (nick, device = "web") => {
      const socket = await connected(server.url);
      const channel = socket.channel("lobby:1", { nick, device });
      const presence = new Presence(channel);
      let syncs = 0;
      presence.onSync(() => syncs++);
      await channel.join();
      return { socket, channel, presence, syncs: () => syncs };
    };
    const ann = await lobby("ann");
    const bob = await lobby("bob");
    await until(() => people(ann.presence).join() === "ann×1,bob×1", "ann to see ann and bob");
    await until(() => people(bob.presence).join() === "ann×1,bob×1", "bob to see ann and bob");

    const bobPhone = await lobby("bob", "phone");
    await until(() => people(ann.presence).join() === "ann×1,bob×2", "bob's second device");
    const devices = ann.presence.list((key, { metas }) => (key === "bob" ? metas.map((m) => m.device).sort() : []));
    assert.deepEqual(devices.flat(), ["phone", "web"]);

    await bobPhone.channel.leave();
    await until(() => people(ann.presence).join() === "ann×1,bob×1", "bob's phone to leave");
    bob.socket.disconnect();
    await until(() => people(ann.presence).join() === "ann×1", "bob to leave with his socket");
    assert.ok(ann.syncs() >= 4);
  });

  test("after a server restart the list is rebuilt from the new presence_state", async () => {
    const server = await started();
    const ann = await connected(server.url);
    const channel = ann.channel("lobby:2", { nick: "ann" });
    const presence = new Presence(channel);
    await channel.join();
    const other = await connected(server.url);
    await other.channel("lobby:2", { nick: "cat" }).join();
    await until(() => people(presence).join() === "ann×1,cat×1", "ann and cat");
    other.disconnect(); // cat is gone for good: after the restart only ann is back
    await server.restart();
    await until(() => channel.state === "joined" && people(presence).join() === "ann×1", "the list after the restart");
  });
});

describe("recovery", { skip: REDIS ? false : "CLIENTS_TEST_PUBSUB (a Redis URL) is not set" }, () => {
  test("no broadcast is missed or repeated across a restart, while another node keeps publishing", async () => {
    const env = { CLIENTS_TEST_PUBSUB: REDIS };
    const node1 = await started(env);
    const node2 = await started(env);
    const reader = await connected(node1.url);
    const publisher = await connected(node2.url);
    const feed = reader.channel("feed");
    const seen = [];
    feed.on("data", ({ n }) => seen.push(n));
    const rejoins = [];
    feed.onRejoin((info) => rejoins.push(info));
    await feed.join();

    let next = await publisher.call("publish", { start: 1, count: 50 });
    await until(() => seen.length === 50, "the first 50 broadcasts");

    // node1 goes away and comes back on its port; node2 publishes all along, in batches.
    let publishing = true;
    const publishes = (async () => {
      while (publishing) {
        next = await publisher.call("publish", { start: next, count: 10 });
        await sleep(20); // about 400 a second: the restart's gap stays well inside the history of 1000
      }
    })();
    try {
      await node1.stop();
      await until(() => next > 150, "broadcasts while node1 is down");
      await node1.start();
      await until(() => rejoins.length === 1, "the rejoin", 20000);
      const rejoinedAt = next;
      await until(() => next > rejoinedAt + 100, "broadcasts after the rejoin");
    } finally {
      publishing = false;
      await publishes;
    }
    await until(() => seen.length >= next - 1, `all ${next - 1} broadcasts (${seen.length} so far)`, 20000);

    assert.equal(rejoins[0].recovered, true);
    assert.deepEqual(seen, Array.from({ length: next - 1 }, (_, i) => i + 1));
    assert.equal(feed.position.offset, seen.length);
  });

  test("history lost with an in-memory server: the rejoin says recovered: false", async () => {
    const server = await started({ CLIENTS_TEST_PUBSUB: "" });
    const reader = await connected(server.url);
    const feed = reader.channel("feed");
    const rejoins = [];
    feed.onRejoin((info) => rejoins.push(info));
    await feed.join();
    await reader.call("publish", { start: 1, count: 3 });
    await until(() => feed.position?.offset === 3, "three broadcasts");
    const epoch = feed.position.epoch;
    await server.restart();
    await until(() => rejoins.length === 1, "the rejoin");
    assert.equal(rejoins[0].recovered, false);
    assert.notEqual(feed.position.epoch, epoch);
    assert.equal(feed.position.offset, 0);
  });
});
