// Must not compile: a missing join parameter.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("room:{room_id}", { room_id: 5 }, {});
}
