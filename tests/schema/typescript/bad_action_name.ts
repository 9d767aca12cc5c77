// Must not compile: a wrong action name.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("place_ordr", { order: { items: [] }, user: { token: "t" } });
}
