// Must not compile: a Depends parameter missing its own parameter.
// expect: TS2741
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("place_order", { order: { items: [] }, user: {} });
}
