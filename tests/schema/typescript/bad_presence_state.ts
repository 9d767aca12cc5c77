// Must not compile: a presence_state handled as the wrong type.
// expect: TS2345
import type { TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function mistake(): Promise<unknown> {
  return api.channel("team:{team_id}", { team_id: 3 }, { user: "a" }).on("presence_state", (state: string[]) => state);
}
