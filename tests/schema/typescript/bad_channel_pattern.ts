// Must not compile: a concrete topic where the pattern is expected.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("room:5", { room_id: 5 }, { nick: "ann" });
}
