// Must compile: the example app's API (example_app/), used as docs/asyncapi.md shows.
import { TypedSocket } from "./example_api.js";
import { Socket } from "./socketapi.js";

export async function main(): Promise<void> {
  const api = new TypedSocket(new Socket("ws://localhost:8000/"));
  await api.socket.connect();
  const sum: number = await api.call("add_numbers", { a: 1, b: 2 });
  const product: number = await api.call("multiply", { a: 3, b: 4 });
  const room = api.channel("room:{room_id}", { room_id: 1 }, { nick: "ann" });
  const welcome = await room.join();
  room.on("shout", (payload) => console.log(payload));
  const reply = await room.push("shout", { text: "hi" });
  const sent: number | undefined = reply["sent"];
  api.channel("chat").on("data", (message) => console.log(message));
  console.log(sum, product, welcome, sent);
}
