// Must not compile: a RequiredOnSubscribe value outside its Literal.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("prices/{symbol}", { symbol: "A" }, { currency: "GBP" });
}
