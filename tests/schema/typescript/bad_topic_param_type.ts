// Must not compile: a topic parameter of the wrong type.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("room:{room_id}", { room_id: "five" }, { nick: "ann" });
}
