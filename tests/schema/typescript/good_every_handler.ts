// Must compile: every kind of handler of tests/apps/every_handler.py, used correctly.
import type { Item, JoinReply, Order, Receipt, TypedSocket } from "./api.js";

declare const api: TypedSocket;

export async function actions(): Promise<void> {
  const receipt: Receipt = await api.call("place_order", {
    order: { items: [{ name: "tea", qty: 2, tags: [{ label: "hot", color: "red" }] }], note: null },
    user: { token: "t" },
  });
  const total: number = receipt.total;
  const kind: "receipt" | undefined = receipt.kind;
  const items: Item[] = await api.call("list_items", { who: { user: { token: "t" } } }, { timeout: 500 });
  await api.call("list_items", { paging: { page: 2 }, who: { user: { token: "t" }, scope: "write" } });
  const nothing: undefined = await api.call("ping_me");
  const hello: string = await api.call("router.hello");
  await api.call("router.hello", { name: "ann" });
  const product: number = await api.call("math.multiply", { a: 2 });
  const tree = await api.call("tree", { root: { name: "a", children: [{ name: "b" }] } });
  const rootName: string | undefined = tree?.name;
  await api.call("echo", { value: [1, "two"], anything: "goes" });
  const sum: number = await api.call("sum", { numbers: [1, 2.5] });
  const found = await api.call("lookup", { keys: { a: [1, 2] }, tag: { label: "x" } });
  const [count, label]: [number, string] = await api.call("matrix", { rows: [{ a: 1 }, null], label: 'say "hi"' });
  console.log(total, kind, count, label, items, nothing, hello, product, rootName, sum, found);
}

export async function channels(): Promise<void> {
  const room = api.channel("room:{room_id}", { room_id: 5 }, { nick: "ann", avatar: { name: "cat" } });
  const reply: JoinReply = await room.join({ timeout: 1000 });
  const shout = await room.push("shout", { text: "hi" });
  const sent: number | undefined = shout["sent"];
  const typed: Receipt = await room.push("order", { order: { items: [] } });
  const none: Promise<never> = room.push("typing"); // no reply comes: it rejects on its timeout
  none.catch(() => undefined);
  room.on("joined", (payload, message) => console.log(payload, message.event, message.frame));
  const topic: string = room.topic;

  const prices = api.channel("prices/{symbol}", { symbol: "ACME" }, { currency: "EUR" });
  prices.on("data", (quote) => {
    const value: number | undefined = quote["ACME"];
    console.log(value);
  });
  const news = api.channel("news");
  news.on("data", (item) => console.log(item["headline"]));
  api.channel("alerts").on("data", (nothing: null) => console.log(nothing));
  const lobby = api.channel("lobby");
  await lobby.push("anything", { x: 1 });
  api.channel("shop/{shop_id}/orders/{order_id}", { shop_id: 1, order_id: 2 }, { who: { token: "t" } }).on(
    "data",
    (order: Order) => console.log(order.items),
  );
  api.channel("user:{user_id}:feed", { user_id: "u1" }).on("anything", (payload: unknown) => console.log(payload));
  const team = api.channel("team:{team_id}", { team_id: 3 }, { user: "ann" });
  team.on("presence_diff", (diff) => console.log(diff.joins["ann"]?.metas[0]?.phx_ref, diff.leaves));
  team.on("presence_state", (state) => console.log(Object.keys(state)));
  await room.leave();
  console.log(reply.welcome, sent, typed, none, topic);
}
