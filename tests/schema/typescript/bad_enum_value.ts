// Must not compile: a value outside an enum.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("place_order", { order: { items: [{ name: "x", tags: [{ label: "x", color: "green" }] }] }, user: { token: "t" } });
}
