// socketapi.d.ts under `tsc --strict` (tests/test_js_client.py): how plain code and a typed
// layer use it. Each @ts-expect-error line must fail to compile, or tsc reports it.
import {
  type Channel,
  type CloseInfo,
  Presence,
  type PresenceState,
  Socket,
  SocketError,
  type WebSocketConstructor,
} from "../../socketapi/static/socketapi.js";

interface RoomEvents {
  shout: { from: string; text: string };
  presence_state: PresenceState<{ online_at: number }>;
}
interface RoomJoinReply {
  room: number;
  nick: string;
}

// The browser's WebSocket class fits the constructor option.
const browserWebSocket: WebSocketConstructor = globalThis.WebSocket;

export async function plain(url: string): Promise<void> {
  const socket = new Socket(url, {
    WebSocket: browserWebSocket,
    timeout: 5000,
    heartbeatInterval: 10000,
    backoff: { initial: 100, max: 5000, factor: 2, jitter: 0.5 },
    whileDisconnected: "reject",
    params: { token: "t" },
  });
  socket.onOpen(() => {});
  const stop = socket.onClose((info: CloseInfo) => info.willReconnect);
  stop();
  socket.onError((error) => error.code);
  await socket.connect();
  const anything: unknown = await socket.call("add", { a: 1, b: 2 });
  const channel = socket.channel("room:1", { nick: "ann" });
  await channel.join({ timeout: 1000 });
  channel.on("anything", (payload, message) => [payload, message.event, message.offset]);
  const reply: unknown = await channel.push("shout", { text: "hi" });
  channel.off("anything");
  await channel.leave();
  try {
    await socket.call("nope");
  } catch (error) {
    if (error instanceof SocketError) {
      const fields: [string, string, unknown] = [error.message, error.code, error.data];
      void fields;
    }
  }
  socket.disconnect();
  void anything;
  void reply;
}

// What a generated typed layer does: narrow results, events, join replies and presence metas.
export async function typed(socket: Socket): Promise<number> {
  const sum = await socket.call<number>("add", { a: 1, b: 2 });
  const room: Channel<RoomEvents, RoomJoinReply> = socket.channel<RoomEvents, RoomJoinReply>("room:1", { nick: "a" });
  const joined: RoomJoinReply = await room.join();
  room.on("shout", (message) => message.text.toUpperCase());
  room.onRejoin(({ reply, recovered }) => [reply.nick, recovered]);
  const presence = new Presence<{ online_at: number }>(room);
  presence.onSync(() => presence.list((key, entry) => [key, entry.metas[0]?.online_at, entry.metas[0]?.phx_ref]));
  // @ts-expect-error: a shout's text is a string
  room.on("shout", (message) => message.text * 2);
  // @ts-expect-error: the join reply has no such field
  void joined.nope;
  // @ts-expect-error: whileDisconnected is "wait" or "reject"
  new Socket("ws://x/", { whileDisconnected: "queue" });
  // @ts-expect-error: a result narrowed to number is not a string
  const wrong: string = await socket.call<number>("add", {});
  void wrong;
  return sum + joined.room;
}
