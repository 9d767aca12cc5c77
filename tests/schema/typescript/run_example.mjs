// The generated wrappers at run time: compiled to JS, over the real socketapi.js, against the example app.
// Usage: node run_example.mjs WS_URL   (run by tests/schema/test_typescript.py from the compiled project)
import { WebSocket } from "ws";

import { TypedSocket } from "./example_api.js";
import { Socket } from "./socketapi.js";

const api = new TypedSocket(new Socket(process.argv[2], { WebSocket, timeout: 5000, connectTimeout: 5000 }));
await api.socket.connect();
try {
  const sum = await api.call("add_numbers", { a: 2, b: 3 });
  const product = await api.call("multiply", { a: 6, b: 7 }, { timeout: 5000 });
  const room = api.channel("room:{room_id}", { room_id: 7 }, { nick: "ann" });
  const welcome = await room.join();
  const shouted = new Promise((resolve) => room.on("shout", (payload) => resolve(payload)));
  const reply = await room.push("shout", { text: "hi" });
  const shout = await shouted;
  await room.leave();
  console.log(JSON.stringify({ sum, product, topic: room.topic, welcome, reply, shout }));
} finally {
  api.socket.disconnect();
}
