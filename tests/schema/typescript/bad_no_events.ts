// Must not compile: an event sent to a channel that handles none.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("news").push("anything");
}
