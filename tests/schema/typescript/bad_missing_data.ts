// Must not compile: no data for an action with required parameters.
// expect: TS2554
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("math.multiply");
}
