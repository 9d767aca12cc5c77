// Must not compile: an array of a union given a member of neither.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.call("matrix", { rows: [{ a: 1 }, "row"] });
}
