// Must not compile: a join reply used as the wrong type.
// expect: TS2322
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  const reply: string = await api.channel("room:{room_id}", { room_id: 5 }, { nick: "ann" }).join();
  return reply;
}
