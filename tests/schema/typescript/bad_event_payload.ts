// Must not compile: an event payload of the wrong type.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("room:{room_id}", { room_id: 5 }, { nick: "ann" }).push("shout", { text: 5 });
}
