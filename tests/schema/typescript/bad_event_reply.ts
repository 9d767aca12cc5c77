// Must not compile: an event reply used as the wrong type.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  const receipt: string = await api.channel("room:{room_id}", { room_id: 5 }, { nick: "ann" }).push("order", { order: { items: [] } });
  return receipt;
}
