// socketapi.js — the JavaScript client of socketapi: one ES module, no dependencies, no build step.
//
// It speaks protocol v1 with `ref` (docs/protocol.md) and adds what a raw WebSocket lacks:
// requests matched to answers by `ref`, a timeout on every request, reconnection with
// exponential backoff and jitter, channels rejoined (with `since`, so topics with history lose
// nothing) after a reconnect, heartbeats that notice a dead connection, and phoenix.js-style
// presence. Types: socketapi.d.ts. Guide: docs/clients.md. Every time is in milliseconds.

const DEFAULTS = {
  timeout: 10000,
  connectTimeout: 10000,
  heartbeatInterval: 15000,
  heartbeatTimeout: 10000,
  reconnect: true,
  whileDisconnected: "wait",
};

const BACKOFF = { initial: 500, max: 10000, factor: 2, jitter: 0.5 };

/** The rejection of every request: a server error frame, or one of the client's own codes. */
export class SocketError extends Error {
  constructor(message, code, options = {}) {
    super(message);
    this.name = "SocketError";
    this.code = code;
    this.data = options.data;
    this.channel = options.channel;
    this.frame = options.frame;
  }
}

/** The delay before reconnect attempt number `attempt` (0-based): exponential, capped, part of it random. */
function backoffDelay(attempt, { initial, max, factor, jitter }) {
  const base = Math.min(max, initial * factor ** attempt);
  return base * (1 - jitter) + Math.random() * base * jitter;
}

/** A promise with its settle functions, for answers that arrive later by `ref`. */
function deferred() {
  let resolve, reject;
  const promise = new Promise((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const noop = () => {};

/** Stop listening to a WebSocket and close it without waiting for a close handshake that may never come. */
function abandon(ws) {
  // No-op handlers rather than null: `ws` (Node) throws on an "error" event nobody listens to.
  ws.onopen = ws.onmessage = ws.onclose = ws.onerror = noop;
  try {
    if (typeof ws.terminate === "function") ws.terminate(); // the `ws` package: drop the TCP connection now
    else ws.close();
  } catch {
    // closing a socket that never opened may throw; it is gone either way
  }
}

export class Socket {
  constructor(url, options = {}) {
    this.url = url;
    this._options = { ...DEFAULTS, ...options };
    this._backoff = { ...BACKOFF, ...options.backoff };
    this._WebSocket = options.WebSocket ?? globalThis.WebSocket;
    this._ws = null;
    this._state = "closed";
    this._manualClose = true; // until connect(): nothing to reconnect to
    this._attempt = 0; // failed attempts since the last open, for the backoff
    this._reconnectTimer = null;
    this._connectWaiters = [];
    this._nextRef = 0;
    this._pending = new Map(); // ref -> {resolve, reject, timer}: requests sent, waiting for their answer
    this._queue = []; // requests made while disconnected ("wait" mode), sent on open
    this._channels = new Map(); // topic -> Channel
    this._callbacks = { open: new Set(), close: new Set(), error: new Set() };
    this._heartbeat = { interval: null, deadline: null };
  }

  get state() {
    return this._state;
  }

  isConnected() {
    return this._state === "open";
  }

  connect() {
    if (this._state === "open") return Promise.resolve();
    const waiter = deferred();
    // A connect() that starts the connection fails with its first attempt; one made while the
    // socket is already reconnecting waits for that to succeed.
    const reconnecting = !this._manualClose && (this._state === "connecting" || this._reconnectTimer !== null);
    waiter.failFast = !reconnecting;
    this._connectWaiters.push(waiter);
    if (!reconnecting) {
      this._manualClose = false;
      if (this._state === "closed") this._open();
    }
    return waiter.promise;
  }

  disconnect(code = 1000, reason = "") {
    const active = this._ws !== null || this._reconnectTimer !== null || this._connectWaiters.length > 0;
    this._manualClose = true;
    clearTimeout(this._reconnectTimer);
    this._reconnectTimer = null;
    const ws = this._ws;
    if (ws) {
      this._ws = null;
      ws.onopen = ws.onmessage = ws.onclose = ws.onerror = noop;
      try {
        ws.close(code, reason);
      } catch {
        abandon(ws);
      }
    }
    if (active) this._closed(code, reason);
  }

  call(action, data = {}, options = {}) {
    return this._request({ type: "action", channel: action, data }, options.timeout).then((frame) => frame.data);
  }

  channel(topic, params = {}) {
    let channel = this._channels.get(topic);
    if (!channel) {
      channel = new Channel(this, topic, params);
      this._channels.set(topic, channel);
    }
    return channel;
  }

  onOpen(callback) {
    return this._listen("open", callback);
  }

  onClose(callback) {
    return this._listen("close", callback);
  }

  onError(callback) {
    return this._listen("error", callback);
  }

  // -- internals ---------------------------------------------------------------------------

  _listen(kind, callback) {
    this._callbacks[kind].add(callback);
    return () => this._callbacks[kind].delete(callback);
  }

  _emit(kind, value) {
    for (const callback of [...this._callbacks[kind]]) {
      try {
        callback(value);
      } catch (err) {
        console.error("socketapi: a callback threw", err);
      }
    }
  }

  _endpoint() {
    const params = this._options.params;
    if (!params) return this.url;
    const url = new URL(this.url);
    for (const [key, value] of Object.entries(params)) url.searchParams.set(key, value);
    return url.toString();
  }

  _open() {
    if (!this._WebSocket) {
      const error = new SocketError(
        "No WebSocket class: pass options.WebSocket (on Node 20: `import { WebSocket } from \"ws\"`).",
        "connect_failed",
      );
      this._manualClose = true;
      for (const waiter of this._connectWaiters.splice(0)) waiter.reject(error);
      return;
    }
    this._state = "connecting";
    let ws;
    try {
      ws = new this._WebSocket(this._endpoint(), this._options.protocols);
    } catch (err) {
      this._closed(1006, String(err));
      return;
    }
    this._ws = ws;
    // A server that accepts TCP but never answers the handshake (stopped, overloaded) counts as a failure.
    const connectTimer = setTimeout(() => this._drop(ws, "connect timeout"), this._options.connectTimeout);
    ws.onopen = () => {
      clearTimeout(connectTimer);
      this._opened();
    };
    ws.onmessage = (event) => this._received(event.data);
    ws.onerror = () => this._emit("error", new SocketError("WebSocket error", "transport"));
    ws.onclose = (event) => {
      clearTimeout(connectTimer);
      if (this._ws === ws) {
        this._ws = null;
        this._closed(event.code, event.reason);
      }
    };
  }

  _opened() {
    this._state = "open";
    this._attempt = 0;
    this._startHeartbeat();
    // Channels first: a push queued while away must reach the server after its channel's subscribe.
    for (const channel of this._channels.values()) channel._rejoin();
    for (const request of this._queue.splice(0)) this._send(request);
    this._emit("open");
    for (const waiter of this._connectWaiters.splice(0)) waiter.resolve();
  }

  /** Drop a connection we no longer trust (no pong, no handshake) and go on as if it had closed. */
  _drop(ws, reason) {
    if (this._ws !== ws) return;
    this._ws = null;
    abandon(ws);
    this._closed(1006, reason);
  }

  _closed(code, reason) {
    this._stopHeartbeat();
    const wasOpen = this._state === "open";
    this._state = "closed";
    const willReconnect = !this._manualClose && this._options.reconnect;
    // Requests in flight may or may not have run: tell their callers rather than guess and resend.
    const lost = new SocketError(
      this._manualClose ? "The socket was disconnected." : "The connection was lost.",
      this._manualClose ? "closed" : "disconnected",
    );
    for (const [ref, request] of this._pending) {
      clearTimeout(request.timer);
      this._pending.delete(ref);
      request.reject(lost);
    }
    if (this._manualClose || this._options.whileDisconnected === "reject") {
      for (const request of this._queue.splice(0)) {
        clearTimeout(request.timer);
        request.reject(lost);
      }
    }
    for (const channel of this._channels.values()) channel._connectionLost(this._manualClose);
    if (!wasOpen && !this._manualClose) {
      const failed = new SocketError(`Could not connect to ${this.url}: ${reason || code}`, "connect_failed");
      for (const waiter of this._connectWaiters.filter((w) => w.failFast || !willReconnect)) waiter.reject(failed);
      this._connectWaiters = this._connectWaiters.filter((w) => !w.failFast && willReconnect);
    }
    if (this._manualClose) {
      const closed = new SocketError("The socket was disconnected.", "closed");
      for (const waiter of this._connectWaiters.splice(0)) waiter.reject(closed);
    }
    this._emit("close", { code, reason, willReconnect });
    if (willReconnect) {
      const delay = backoffDelay(this._attempt++, this._backoff);
      this._reconnectTimer = setTimeout(() => {
        this._reconnectTimer = null;
        if (!this._manualClose) this._open();
      }, delay);
    }
  }

  _startHeartbeat() {
    const { heartbeatInterval, heartbeatTimeout } = this._options;
    if (!heartbeatInterval) return;
    const ws = this._ws;
    this._heartbeat.interval = setInterval(() => {
      if (this._heartbeat.deadline !== null || this._ws !== ws) return; // a ping is already out
      this._write({ type: "ping", ref: ++this._nextRef });
      this._heartbeat.deadline = setTimeout(() => this._drop(ws, "heartbeat timeout"), heartbeatTimeout);
    }, heartbeatInterval);
  }

  _stopHeartbeat() {
    clearInterval(this._heartbeat.interval);
    clearTimeout(this._heartbeat.deadline);
    this._heartbeat = { interval: null, deadline: null };
  }

  _write(frame) {
    this._ws.send(JSON.stringify(frame));
  }

  /**
   * Send `frame` with a fresh `ref`; resolves to the answering frame, rejects with a SocketError.
   * While not connected the request waits for the connection or rejects, per `whileDisconnected`;
   * `queue: false` is for subscribes, which channels resend themselves on every open.
   */
  _request(frame, timeout, { queue = true } = {}) {
    const { promise, resolve, reject } = deferred();
    const ms = timeout ?? this._options.timeout;
    const request = { frame: { ...frame, ref: ++this._nextRef }, resolve, reject, timer: null };
    request.timer = setTimeout(() => {
      this._pending.delete(request.frame.ref);
      const queued = this._queue.indexOf(request);
      if (queued >= 0) this._queue.splice(queued, 1);
      reject(new SocketError(`No answer to '${frame.channel ?? frame.type}' within ${ms} ms.`, "timeout"));
    }, ms);
    if (this._state === "open") {
      this._send(request);
    } else if (queue && !this._manualClose && this._options.whileDisconnected === "wait") {
      this._queue.push(request);
    } else if (queue) {
      clearTimeout(request.timer);
      const closed = this._manualClose;
      reject(new SocketError(closed ? "The socket is not connected." : "The connection is down.", closed ? "closed" : "disconnected"));
    }
    return promise;
  }

  _send(request) {
    this._pending.set(request.frame.ref, request);
    this._write(request.frame);
  }

  _received(text) {
    // Any frame proves the connection alive: a pong stuck behind a burst of broadcasts is no failure.
    clearTimeout(this._heartbeat.deadline);
    this._heartbeat.deadline = null;
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this._emit("error", new SocketError("The server sent a frame that is not JSON.", "invalid_frame"));
      return;
    }
    const request = frame.ref === undefined ? undefined : this._pending.get(frame.ref);
    if (request) {
      this._pending.delete(frame.ref);
      clearTimeout(request.timer);
      if (frame.type === "error") {
        request.reject(
          new SocketError(frame.message, frame.code ?? "error", { data: frame.data, channel: frame.channel, frame }),
        );
      } else {
        request.resolve(frame);
      }
      return;
    }
    if (frame.type === "data") {
      this._channels.get(frame.channel)?._received(frame);
    } else if (frame.type === "error") {
      this._emit("error", new SocketError(frame.message, frame.code ?? "error", { data: frame.data, frame }));
    }
    // A pong, or the late answer to a request that timed out: nothing waits for it.
  }

  _forget(channel) {
    if (this._channels.get(channel.topic) === channel) this._channels.delete(channel.topic);
  }
}

export class Channel {
  constructor(socket, topic, params) {
    this.socket = socket;
    this.topic = topic;
    this.params = params;
    this.position = null; // {offset, epoch} of the last broadcast seen, on topics with history
    this._state = "closed";
    this._wanted = false; // joined by the user and not left: rejoin after every reconnect
    this._joined = false; // has been joined on some connection (so the next join is a rejoin)
    this._joinWaiter = null; // the promise join() returned, until the first subscribe is answered
    this._joinRef = null; // ref of the latest subscribe; Presence uses it to spot rejoins
    this._reply = undefined;
    this._bindings = new Map(); // event -> Set of callbacks
    this._rejoinCallbacks = new Set();
  }

  get state() {
    return this._state;
  }

  join(options = {}) {
    if (this._state === "joined") return Promise.resolve(this._reply);
    if (this._joinWaiter) return this._joinWaiter.promise;
    const socket = this.socket;
    if (!socket.isConnected() && (socket._manualClose || socket._options.whileDisconnected === "reject")) {
      const closed = socket._manualClose;
      return Promise.reject(
        new SocketError(closed ? "The socket is not connected." : "The connection is down.", closed ? "closed" : "disconnected"),
      );
    }
    const ms = options.timeout ?? socket._options.timeout;
    const waiter = deferred();
    waiter.timer = setTimeout(() => {
      this._failJoin(new SocketError(`No answer to joining '${this.topic}' within ${ms} ms.`, "timeout"));
      // The subscribe may still land later: undo it rather than hold a subscription nobody knows of.
      if (socket.isConnected()) socket._write({ type: "unsubscribe", channel: this.topic });
    }, ms);
    this._joinWaiter = waiter;
    this._wanted = true;
    this._state = "joining";
    socket._channels.set(this.topic, this);
    if (socket.isConnected()) this._subscribe(ms);
    return waiter.promise;
  }

  push(event, data = {}, options = {}) {
    if (!this._wanted) {
      return Promise.reject(new SocketError(`Not subscribed to channel '${this.topic}'.`, "not_subscribed"));
    }
    return this.socket
      ._request({ type: "event", channel: this.topic, event, data }, options.timeout)
      .then((frame) => frame.data);
  }

  on(event, callback) {
    if (!this._bindings.has(event)) this._bindings.set(event, new Set());
    this._bindings.get(event).add(callback);
    return () => this.off(event, callback);
  }

  off(event, callback) {
    if (callback === undefined) this._bindings.delete(event);
    else this._bindings.get(event)?.delete(callback);
  }

  onRejoin(callback) {
    this._rejoinCallbacks.add(callback);
    return () => this._rejoinCallbacks.delete(callback);
  }

  async leave(options = {}) {
    const wasSubscribed = this._state === "joined" || this._state === "joining";
    this._wanted = false;
    this._joined = false;
    this._failJoin(new SocketError(`Left channel '${this.topic}' before it was joined.`, "closed"));
    this.socket._forget(this);
    if (!wasSubscribed || !this.socket.isConnected()) {
      this._state = "closed";
      return;
    }
    this._state = "leaving";
    try {
      await this.socket._request({ type: "unsubscribe", channel: this.topic }, options.timeout, { queue: false });
    } finally {
      this._state = "closed";
    }
  }

  // -- internals ---------------------------------------------------------------------------

  _subscribe(timeout) {
    const frame = { type: "subscribe", channel: this.topic, data: this.params };
    // Recovery (SPEC 7.3): ask for every broadcast after the last one seen, if the topic keeps history.
    if (this.position) frame.since = { offset: this.position.offset, epoch: this.position.epoch };
    const isRejoin = this._joined;
    const promise = this.socket._request(frame, timeout, { queue: false });
    this._joinRef = this.socket._nextRef; // the ref just given to this subscribe
    promise.then(
      (answer) => this._subscribed(answer, isRejoin),
      (error) => this._subscribeFailed(error, isRejoin),
    );
  }

  _subscribed(frame, isRejoin) {
    if (!this._wanted) return; // left meanwhile
    this._state = "joined";
    this._joined = true;
    this._reply = frame.data;
    if (typeof frame.offset === "number") {
      // Recovered: the missed broadcasts follow and move the position on. Otherwise start from now.
      if (!(frame.recovered === true && this.position && this.position.epoch === frame.epoch)) {
        this.position = { offset: frame.offset, epoch: frame.epoch };
      }
    }
    const waiter = this._joinWaiter;
    if (waiter) {
      this._joinWaiter = null;
      clearTimeout(waiter.timer);
      waiter.resolve(frame.data);
    }
    if (isRejoin) {
      const info = { reply: frame.data, recovered: frame.recovered };
      for (const callback of [...this._rejoinCallbacks]) callback(info);
    }
  }

  _subscribeFailed(error, isRejoin) {
    if (!this._wanted) return;
    if (error.code === "disconnected") return; // the next open resubscribes
    if (error.code === "timeout" && !this._joinWaiter) {
      // A rejoin went unanswered on a live connection: try again on the next connection.
      this.socket._ws && this.socket._drop(this.socket._ws, "rejoin timeout");
      return;
    }
    this._wanted = false;
    this._state = "errored";
    this.socket._forget(this);
    if (this._joinWaiter) this._failJoin(error);
    else if (isRejoin) this.socket._emit("error", error);
  }

  _failJoin(error) {
    const waiter = this._joinWaiter;
    if (!waiter) return;
    this._joinWaiter = null;
    clearTimeout(waiter.timer);
    if (this._state === "joining") {
      this._state = "errored";
      this._wanted = false;
      this.socket._forget(this);
    }
    waiter.reject(error);
  }

  _rejoin() {
    if (this._wanted) {
      this._state = "joining";
      this._subscribe(this.socket._options.timeout);
    }
  }

  _connectionLost(forGood) {
    if (this._state === "joined") this._state = this._wanted && !forGood ? "joining" : "closed";
    if (forGood) this._failJoin(new SocketError("The socket was disconnected.", "closed"));
  }

  _received(frame) {
    if (!this._wanted) return;
    const offset = frame.offset;
    if (typeof offset === "number" && this.position) {
      if (offset <= this.position.offset) return; // already seen: recovery never delivers twice
      this.position = { offset, epoch: this.position.epoch };
    }
    const event = frame.event ?? "data";
    const callbacks = this._bindings.get(event);
    if (!callbacks) return;
    const message = { event, offset, frame };
    for (const callback of [...callbacks]) {
      try {
        callback(frame.data, message);
      } catch (err) {
        console.error(`socketapi: a callback for '${event}' on '${this.topic}' threw`, err);
      }
    }
  }
}

/**
 * The presence list of a channel, kept from its `presence_state` and `presence_diff` events
 * (SPEC 7.2, the shapes of Phoenix.Presence). Diffs that arrive before the state of the current
 * join are held until that state arrives, as phoenix.js does.
 */
export class Presence {
  constructor(channel, options = {}) {
    const events = options.events ?? { state: "presence_state", diff: "presence_diff" };
    this.channel = channel;
    this.state = {};
    this._pendingDiffs = [];
    this._syncedJoinRef = null;
    this._callbacks = { join: noop, leave: noop, sync: noop };
    channel.on(events.state, (next) => {
      const { join, leave, sync } = this._callbacks;
      this._syncedJoinRef = channel._joinRef;
      this.state = Presence.syncState(this.state, next, join, leave);
      for (const diff of this._pendingDiffs.splice(0)) this.state = Presence.syncDiff(this.state, diff, join, leave);
      sync();
    });
    channel.on(events.diff, (diff) => {
      if (this.inPendingSyncState()) {
        this._pendingDiffs.push(diff);
        return;
      }
      const { join, leave, sync } = this._callbacks;
      this.state = Presence.syncDiff(this.state, diff, join, leave);
      sync();
    });
  }

  onSync(callback) {
    this._callbacks.sync = callback;
  }

  onJoin(callback) {
    this._callbacks.join = callback;
  }

  onLeave(callback) {
    this._callbacks.leave = callback;
  }

  list(chooser) {
    return Presence.list(this.state, chooser);
  }

  inPendingSyncState() {
    return this._syncedJoinRef === null || this._syncedJoinRef !== this.channel._joinRef;
  }

  /** The state `next` as a diff against `current`, applied: keys and metas (by `phx_ref`) that came and went. */
  static syncState(current, next, onJoin, onLeave) {
    const joins = {};
    const leaves = {};
    for (const [key, entry] of Object.entries(current)) {
      if (!(key in next)) leaves[key] = entry;
    }
    for (const [key, entry] of Object.entries(next)) {
      const known = current[key];
      if (!known) {
        joins[key] = entry;
        continue;
      }
      const nextRefs = new Set(entry.metas.map((meta) => meta.phx_ref));
      const knownRefs = new Set(known.metas.map((meta) => meta.phx_ref));
      const joined = entry.metas.filter((meta) => !knownRefs.has(meta.phx_ref));
      const left = known.metas.filter((meta) => !nextRefs.has(meta.phx_ref));
      if (joined.length) joins[key] = { ...entry, metas: joined };
      if (left.length) leaves[key] = { ...known, metas: left };
    }
    return Presence.syncDiff(current, { joins, leaves }, onJoin, onLeave);
  }

  /** `state` with `diff` applied (a new object; `state` is left as it was). */
  static syncDiff(state, diff, onJoin = noop, onLeave = noop) {
    const result = structuredClone(state);
    const { joins, leaves } = structuredClone(diff);
    for (const [key, joined] of Object.entries(joins)) {
      const before = result[key];
      const joinedRefs = new Set(joined.metas.map((meta) => meta.phx_ref));
      const kept = before ? before.metas.filter((meta) => !joinedRefs.has(meta.phx_ref)) : [];
      result[key] = { ...joined, metas: [...kept, ...joined.metas] };
      onJoin(key, before, joined);
    }
    for (const [key, left] of Object.entries(leaves)) {
      const entry = result[key];
      if (!entry) continue;
      const leftRefs = new Set(left.metas.map((meta) => meta.phx_ref));
      entry.metas = entry.metas.filter((meta) => !leftRefs.has(meta.phx_ref));
      onLeave(key, entry, left);
      if (entry.metas.length === 0) delete result[key];
    }
    return result;
  }

  static list(state, chooser = (key, entry) => entry) {
    return Object.entries(state).map(([key, entry]) => chooser(key, entry));
  }
}
