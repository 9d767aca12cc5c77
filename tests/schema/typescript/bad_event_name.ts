// Must not compile: an event the channel does not handle.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("room:{room_id}", { room_id: 5 }, { nick: "ann" }).push("whisper", { text: "x" });
}
