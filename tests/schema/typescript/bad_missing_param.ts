// Must not compile: a missing required parameter.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("math.multiply", { b: 2 });
}
