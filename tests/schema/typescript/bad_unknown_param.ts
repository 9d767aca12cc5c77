// Must not compile: a parameter the action does not take.
// expect: TS2353
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("router.hello", { nmae: "ann" });
}
