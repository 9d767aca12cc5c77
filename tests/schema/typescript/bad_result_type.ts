// Must not compile: the result used as the wrong type.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  const text: string = await api.call("math.multiply", { a: 1 });
  return text;
}
