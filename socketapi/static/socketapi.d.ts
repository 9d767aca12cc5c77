/**
 * socketapi.js — the JavaScript client of socketapi (protocol v1 with `ref`).
 *
 * One ES module with no dependencies, served by the app at `/socketapi.js`; these are its
 * types, served at `/socketapi.d.ts`. Every time is in milliseconds.
 *
 * The generics default to `unknown`, so plain use needs no type arguments, and a generated
 * typed layer can narrow them: `socket.call<AddResult>("add", params)`,
 * `socket.channel<RoomEvents, RoomJoinReply>("room:1")`, `new Presence<UserMeta>(channel)`.
 */

/** Removes the callback it was returned for. */
export type Unsubscribe = () => void;

/** A frame as sent or received on the wire: one JSON object. */
export type Frame = { readonly [key: string]: unknown };

/**
 * The part of a WebSocket the client uses: the browser's `WebSocket` and the `ws` package's
 * both fit. Event arguments are loosely typed so that either class can be passed as a
 * constructor.
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: any) => unknown) | null;
  onclose: ((event: any) => unknown) | null;
  onerror: ((event: any) => unknown) | null;
  onmessage: ((event: any) => unknown) | null;
}

/** A WebSocket class: `globalThis.WebSocket` in browsers, `(await import("ws")).WebSocket` in Node 20. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Exponential backoff with jitter between reconnect attempts. */
export interface BackoffOptions {
  /** Delay before the first retry. Default 500. */
  initial?: number;
  /** Upper bound of any delay. Default 10000. */
  max?: number;
  /** Growth per failed attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay drawn at random, 0..1 ("equal jitter"). Default 0.5. */
  jitter?: number;
}

export interface SocketOptions {
  /** The WebSocket class to use; defaults to `globalThis.WebSocket` (required on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Subprotocols offered at the handshake. */
  protocols?: string | string[];
  /** Query parameters added to the URL (for the app's `on_connect` hook). */
  params?: Record<string, string>;
  /** Default timeout of `call`, `join`, `push` and `leave`. Default 10000. */
  timeout?: number;
  /** How long one connection attempt may take before it counts as failed. Default 10000. */
  connectTimeout?: number;
  /** A `ping` is sent this long after the last frame sent; 0 turns heartbeats off. Default 15000. */
  heartbeatInterval?: number;
  /** No `pong` (or any frame) within this time after a ping: the connection is dead and is dropped. Default 10000. */
  heartbeatTimeout?: number;
  /** Reconnect after an unexpected close. Default true. */
  reconnect?: boolean;
  /** Delays between reconnect attempts. */
  backoff?: BackoffOptions;
  /**
   * What `call`, `join` and `push` do while the socket is not open: `"wait"` (default) queues
   * the request until the connection is back, still bounded by its timeout; `"reject"` rejects
   * at once with code `"disconnected"`.
   */
  whileDisconnected?: "wait" | "reject";
}

export interface RequestOptions {
  /** Overrides the socket's `timeout` for this request. */
  timeout?: number;
}

export type SocketState = "closed" | "connecting" | "open" | "closing";

export interface CloseInfo {
  code: number;
  reason: string;
  /** False after `disconnect()`, after a refused handshake with reconnect off, or with `reconnect: false`. */
  willReconnect: boolean;
}

/**
 * Every rejection of the client is a `SocketError`. `code` is the server's error code
 * (`"unknown_action"`, `"invalid_params"`, `"join_refused"`, `"handler_error"`, ...) or one of
 * the client's own: `"timeout"` (no answer in time), `"disconnected"` (the connection was lost
 * or not open, with `whileDisconnected: "reject"`), `"closed"` (`disconnect()` was called, or the
 * channel was left), `"connect_failed"` (the first `connect()` could not open the socket).
 */
export class SocketError extends Error {
  constructor(message: string, code: string, options?: { data?: unknown; channel?: string; frame?: Frame });
  readonly name: "SocketError";
  readonly code: string;
  /** The `data` of the error frame, when the server sent one (a refused join may carry it). */
  readonly data: unknown;
  /** The channel or action the error answers, when known. */
  readonly channel: string | undefined;
  /** The error frame itself, when the error came from the server. */
  readonly frame: Frame | undefined;
}

export class Socket {
  constructor(url: string, options?: SocketOptions);
  readonly url: string;
  readonly state: SocketState;
  isConnected(): boolean;
  /**
   * Opens the connection; resolves once it is open. Rejects with `"connect_failed"` when the
   * first attempt fails (a refused handshake, nothing listening); with `reconnect` on, the
   * socket keeps trying in the background either way until `disconnect()`.
   */
  connect(): Promise<void>;
  /** Closes the connection for good (code 1000): no reconnect; pending requests reject with `"closed"`. */
  disconnect(code?: number, reason?: string): void;
  /** Calls an action; resolves to its `data` (`undefined` when the handler returned nothing). */
  call<Result = unknown>(action: string, data?: object, options?: RequestOptions): Promise<Result>;
  /**
   * The channel of `topic` on this socket, created on first use. Asking again for a topic that
   * has a channel (not yet left) returns that channel; its original `params` are kept.
   */
  channel<Events extends object = Record<string, unknown>, JoinReply = unknown>(
    topic: string,
    params?: object,
  ): Channel<Events, JoinReply>;
  /** Every open, including each reconnect. */
  onOpen(callback: () => void): Unsubscribe;
  /** Every close, expected or not. */
  onClose(callback: (info: CloseInfo) => void): Unsubscribe;
  /** Transport errors and error frames that answer no request. */
  onError(callback: (error: SocketError) => void): Unsubscribe;
}

export type ChannelState = "closed" | "joining" | "joined" | "leaving" | "errored";

/** What a channel callback receives besides the payload. */
export interface ChannelMessage {
  /** The event name; `"data"` for a broadcast without one. */
  event: string;
  /** The broadcast's offset on a topic with history (SPEC 7.3). */
  offset: number | undefined;
  /** The frame itself. */
  frame: Frame;
}

/** A position in a topic's history. */
export interface StreamPosition {
  offset: number;
  epoch: string;
}

/** Told after every rejoin that follows a reconnect. */
export interface RejoinInfo<JoinReply = unknown> {
  /** The join reply of the rejoin. */
  reply: JoinReply;
  /**
   * True: every broadcast missed while away was delivered (in order, before newer ones).
   * False: the history could not cover the gap; reload the channel's state.
   * Undefined: the topic keeps no history.
   */
  recovered: boolean | undefined;
}

/**
 * One topic on one socket. `Events` maps event names to payload types (`"data"` for broadcasts
 * without an event name, `"presence_state"`, `"presence_diff"`, ...).
 */
export class Channel<Events extends object = Record<string, unknown>, JoinReply = unknown> {
  readonly socket: Socket;
  readonly topic: string;
  readonly params: object;
  readonly state: ChannelState;
  /** The last history position seen (from `subscribed`, then each broadcast with an offset); null if none. */
  readonly position: StreamPosition | null;
  /** Subscribes; resolves to the join reply, rejects with `"join_refused"` (and the server's `data`) when refused. */
  join(options?: RequestOptions): Promise<JoinReply>;
  /**
   * Sends event `event` to this channel; resolves to the handler's reply. A handler that returns
   * nothing sends no reply (like Phoenix's `:noreply`): the push then rejects with `"timeout"`.
   * Rejects with `"not_subscribed"` at once on a channel never joined, or left.
   */
  push<Reply = unknown>(event: string, data?: object, options?: RequestOptions): Promise<Reply>;
  /** Calls `callback` for every push or broadcast named `event`. */
  on<E extends keyof Events & string>(
    event: E,
    callback: (payload: Events[E], message: ChannelMessage) => void,
  ): Unsubscribe;
  on(event: string, callback: (payload: unknown, message: ChannelMessage) => void): Unsubscribe;
  /** Removes one callback of `event`, or all of them when `callback` is omitted. */
  off(event: string, callback?: (payload: any, message: ChannelMessage) => void): void;
  /** Told after each automatic rejoin (after a reconnect). */
  onRejoin(callback: (info: RejoinInfo<JoinReply>) => void): Unsubscribe;
  /** Unsubscribes; the channel is not rejoined after a reconnect. Resolves once the server confirmed (or at once when offline). */
  leave(options?: RequestOptions): Promise<void>;
}

/** One presence meta: the tracked meta plus its unique `phx_ref`. */
export type PresenceMeta<Meta extends object = Record<string, unknown>> = Meta & {
  phx_ref: string;
  phx_ref_prev?: string;
};

/** The presences of one key. */
export interface PresenceEntry<Meta extends object = Record<string, unknown>> {
  metas: PresenceMeta<Meta>[];
}

/** `{key: {metas: [...]}}`, the shape of `presence_state` (SPEC 7.2). */
export type PresenceState<Meta extends object = Record<string, unknown>> = Record<string, PresenceEntry<Meta>>;

/** The shape of `presence_diff`. */
export interface PresenceDiff<Meta extends object = Record<string, unknown>> {
  joins: PresenceState<Meta>;
  leaves: PresenceState<Meta>;
}

export type PresenceJoinCallback<Meta extends object = Record<string, unknown>> = (
  key: string,
  current: PresenceEntry<Meta> | undefined,
  joined: PresenceEntry<Meta>,
) => void;

export type PresenceLeaveCallback<Meta extends object = Record<string, unknown>> = (
  key: string,
  current: PresenceEntry<Meta>,
  left: PresenceEntry<Meta>,
) => void;

/**
 * The presence list of a channel, kept in sync from its `presence_state` and `presence_diff`
 * events with phoenix.js's semantics (diffs that arrive before the state are held and applied
 * after it). Create it before `join()`.
 */
export class Presence<Meta extends object = Record<string, unknown>> {
  constructor(channel: Channel<any, any>, options?: { events?: { state: string; diff: string } });
  /** After every state or diff applied. */
  onSync(callback: () => void): void;
  onJoin(callback: PresenceJoinCallback<Meta>): void;
  onLeave(callback: PresenceLeaveCallback<Meta>): void;
  /** One item per key: `chooser(key, entry)`, by default the entry itself. */
  list(): PresenceEntry<Meta>[];
  list<T>(chooser: (key: string, entry: PresenceEntry<Meta>) => T): T[];
  /** True until the first `presence_state` after a (re)join has arrived. */
  inPendingSyncState(): boolean;
  /** The current state (do not mutate). */
  readonly state: PresenceState<Meta>;

  /** Replaces `current` by `next`, calling onJoin/onLeave for what changed; returns the new state. */
  static syncState<M extends object>(
    current: PresenceState<M>,
    next: PresenceState<M>,
    onJoin?: PresenceJoinCallback<M>,
    onLeave?: PresenceLeaveCallback<M>,
  ): PresenceState<M>;
  /** Applies `diff` to `state`; returns the new state. */
  static syncDiff<M extends object>(
    state: PresenceState<M>,
    diff: PresenceDiff<M>,
    onJoin?: PresenceJoinCallback<M>,
    onLeave?: PresenceLeaveCallback<M>,
  ): PresenceState<M>;
  static list<M extends object, T = PresenceEntry<M>>(
    state: PresenceState<M>,
    chooser?: (key: string, entry: PresenceEntry<M>) => T,
  ): T[];
}
