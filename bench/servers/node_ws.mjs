// The benchmark protocol written by hand on Node's `ws` server (the version pinned in the
// repository's package.json): the same three endpoints as raw_starlette.py, a broadcast
// serialized once and written to every subscriber in turn. It is what a hand-written Node
// server does on this machine, for comparison.
//
// Run with `node node_ws.mjs --port N` (ws is found in the repository's node_modules).
import { WebSocketServer } from "ws";

const args = process.argv.slice(2);
const port = Number(args[args.indexOf("--port") + 1]);
const host = args.includes("--host") ? args[args.indexOf("--host") + 1] : "127.0.0.1";
const chat = new Set();
const SEND_MESSAGE_DONE = JSON.stringify({ type: "action", channel: "send_message", status: "completed" });
const error = (message) => JSON.stringify({ type: "error", message });

function handle(ws, frame) {
  if (frame === null || typeof frame !== "object" || Array.isArray(frame)) return error("Frame must be a JSON object.");
  const { type: kind, channel } = frame;
  const data = frame.data === undefined ? {} : frame.data;
  if (data === null || typeof data !== "object" || Array.isArray(data)) return error("Data must be a JSON object.");
  if (kind === "action") {
    if (channel === "add_numbers") {
      const { a, b } = data;
      if (!Number.isInteger(a) || !Number.isInteger(b)) return error("Invalid parameters for action 'add_numbers'");
      return JSON.stringify({ type: "action", channel: "add_numbers", status: "completed", data: a + b });
    }
    if (channel === "send_message") {
      if (typeof data.message !== "string") return error("Invalid parameters for action 'send_message'");
      const text = JSON.stringify({ type: "data", channel: "chat", data: { message: data.message } });
      for (const subscriber of chat) subscriber.send(text);
      return SEND_MESSAGE_DONE;
    }
    return error(`Action '${channel}' not found.`);
  }
  if (kind === "subscribe") {
    if (channel !== "chat") return error(`Channel '${channel}' not found.`);
    chat.add(ws);
    return JSON.stringify({ type: "subscribed", channel: "chat" });
  }
  if (kind === "unsubscribe") {
    chat.delete(ws);
    return JSON.stringify({ type: "unsubscribed", channel });
  }
  return error(`Unknown message type: ${kind}.`);
}

const server = new WebSocketServer({ host, port, perMessageDeflate: false });
server.on("connection", (ws) => {
  ws.on("message", (raw, isBinary) => {
    let reply;
    try {
      reply = handle(ws, JSON.parse(raw.toString()));
    } catch {
      reply = error("Frame is not valid JSON.");
    }
    ws.send(reply);
  });
  ws.on("close", () => chat.delete(ws));
});
const stop = () => server.close(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
