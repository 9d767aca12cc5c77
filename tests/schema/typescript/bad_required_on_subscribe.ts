// Must not compile: no subscribe data for a RequiredOnSubscribe parameter.
// expect: TS2554
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("prices/{symbol}", { symbol: "ACME" });
}
