// Must not compile: a broadcast payload handled as the wrong type.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("prices/{symbol}", { symbol: "A" }, { currency: "EUR" }).on("data", (quote: string) => quote);
}
