// Must not compile: a parameter of the wrong type.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("math.multiply", { a: "2" });
}
