// Must not compile: a nested model missing its required field.
// expect: TS2741
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("place_order", { order: { items: [{ qty: 1 }] }, user: { token: "t" } });
}
