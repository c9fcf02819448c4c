/**
 * The bore messages in both directions, encoded as serde encodes the Rust enums
 * (externally tagged): `"Heartbeat"`, `{"Hello":20001}`, `{"Accept":"<uuid>"}`.
 *
 * Five more messages extend the protocol between this client and this server (the
 * warm pool of data connections and the pace of heartbeats); neither end sends them
 * unless the other announced them first, so Rust peers never see one:
 * - `{"PoolRequest":4}`: client, on the control connection after `Hello`: "I can keep
 *   4 idle data connections". A Rust server never reads the control connection again
 *   after `Hello`, so it ignores this.
 * - `{"PoolOffer":{"token":"<uuid>","size":4}}`: server, on the control connection,
 *   only in answer to `PoolRequest`: how many to open and the token that binds them to
 *   this control session.
 * - `{"PoolJoin":"<uuid>"}`: client, on a new data connection, after the challenge if
 *   there is one: join the pool of the session with this token. The server acknowledges
 *   it with a heartbeat, unless the token is written in the simple form (32 hex digits,
 *   no hyphens: a *quiet* join, which this client sends). Every bore-ts server takes
 *   either form, and a server that does not know quiet joins acknowledges it anyway,
 *   which the client reads as the idle connection's heartbeat; so the join costs no
 *   write and no read where both ends know it, and nothing breaks where one does not.
 * - `{"HeartbeatInterval":2000}`: client, on the control connection, only after a
 *   `PoolOffer` (so only to a bore-ts server): "a heartbeat every 2,000 ms is enough for
 *   me" (the server keeps 500 ms otherwise and caps what it grants to what its own
 *   dead-client bound allows).
 * - `{"MuxJoin":"<uuid>"}`: client, on a new data connection, after the challenge if
 *   there is one, only with a pool's token (so only to a bore-ts server): make this the
 *   tunnel's multiplexed connection. From then on both ends send the binary frames of
 *   `mux-frames.ts`, the server first (its acknowledgement); a server that does not know
 *   the message closes the connection, and the client keeps to the pool.
 */
import { ProtocolError } from './framing.js';

/** A message from the client to the server. */
export type ClientMessage =
  | { type: 'Authenticate'; tag: string }
  | { type: 'Hello'; port: number }
  | { type: 'Accept'; id: string }
  | { type: 'PoolRequest'; size: number }
  | { type: 'PoolJoin'; token: string; quiet?: true }
  | { type: 'HeartbeatInterval'; ms: number }
  | { type: 'MuxJoin'; token: string };

/** A message from the server to the client. */
export type ServerMessage =
  | { type: 'Challenge'; id: string }
  | { type: 'Hello'; port: number }
  | { type: 'Heartbeat' }
  | { type: 'Connection'; id: string }
  | { type: 'Error'; message: string }
  | { type: 'PoolOffer'; token: string; size: number };

const UUID_HYPHENATED = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const UUID_SIMPLE = /^[0-9a-f]{32}$/i;

/** Returns `text` as a lowercase hyphenated UUID, or throws if it is not a UUID. */
export function parseUuid(text: unknown): string {
  if (typeof text === 'string') {
    if (UUID_HYPHENATED.test(text)) return text.toLowerCase();
    if (UUID_SIMPLE.test(text)) {
      const t = text.toLowerCase();
      return `${t.slice(0, 8)}-${t.slice(8, 12)}-${t.slice(12, 16)}-${t.slice(16, 20)}-${t.slice(20)}`;
    }
  }
  throw new ProtocolError(`invalid UUID: ${preview(text)}`);
}

function parsePort(value: unknown): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 65535) return value;
  throw new ProtocolError(`invalid port number: ${preview(value)}`);
}

/** A u32 on the wire (a peer asking for more than it may have gets the cap, not an error). */
function parseU32(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffff_ffff) return value;
  throw new ProtocolError(`invalid ${what}: ${preview(value)}`);
}

/** A pool size on the wire: any u32. */
function parsePoolSize(value: unknown): number {
  return parseU32(value, 'pool size');
}

function parseOffer(value: unknown): { token: string; size: number } {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const { token, size, ...rest } = value as Record<string, unknown>;
    if (Object.keys(rest).length === 0) return { token: parseUuid(token), size: parsePoolSize(size) };
  }
  throw new ProtocolError(`invalid pool offer: ${preview(value)}`);
}

function parseString(value: unknown): string {
  if (typeof value === 'string') return value;
  throw new ProtocolError(`expected a string, got ${preview(value)}`);
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}...` : text;
}

/** Splits an externally tagged enum value into its variant name and payload. */
function variantOf(text: string): [string, unknown] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new ProtocolError(`frame is not valid JSON: ${preview(text)}`);
  }
  if (typeof value === 'string') return [value, undefined];
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1) return [keys[0]!, (value as Record<string, unknown>)[keys[0]!]];
  }
  throw new ProtocolError(`not a bore message: ${preview(value)}`);
}

function unitOrPayload(name: string, payload: unknown, unit: boolean): void {
  if (unit !== (payload === undefined)) {
    throw new ProtocolError(unit ? `${name} takes no data` : `${name} needs data`);
  }
}

/** Parses the text of one frame sent by a client. Throws a {@link ProtocolError}. */
export function decodeClientMessage(text: string): ClientMessage {
  const [name, payload] = variantOf(text);
  switch (name) {
    case 'Authenticate':
      unitOrPayload(name, payload, false);
      return { type: 'Authenticate', tag: parseString(payload) };
    case 'Hello':
      unitOrPayload(name, payload, false);
      return { type: 'Hello', port: parsePort(payload) };
    case 'Accept':
      unitOrPayload(name, payload, false);
      return { type: 'Accept', id: parseUuid(payload) };
    case 'PoolRequest':
      unitOrPayload(name, payload, false);
      return { type: 'PoolRequest', size: parsePoolSize(payload) };
    case 'PoolJoin':
      unitOrPayload(name, payload, false);
      // parseUuid took either form: 32 characters is the simple one, a quiet join.
      return { type: 'PoolJoin', token: parseUuid(payload), ...((payload as string).length === 32 ? { quiet: true } : {}) };
    case 'HeartbeatInterval':
      unitOrPayload(name, payload, false);
      return { type: 'HeartbeatInterval', ms: parseU32(payload, 'heartbeat interval') };
    case 'MuxJoin':
      unitOrPayload(name, payload, false);
      return { type: 'MuxJoin', token: parseUuid(payload) };
    default:
      throw new ProtocolError(`unknown client message: ${preview(name)}`);
  }
}

/** Parses the text of one frame sent by a server. Throws a {@link ProtocolError}. */
export function decodeServerMessage(text: string): ServerMessage {
  const [name, payload] = variantOf(text);
  switch (name) {
    case 'Heartbeat':
      unitOrPayload(name, payload, true);
      return { type: 'Heartbeat' };
    case 'Challenge':
      unitOrPayload(name, payload, false);
      return { type: 'Challenge', id: parseUuid(payload) };
    case 'Hello':
      unitOrPayload(name, payload, false);
      return { type: 'Hello', port: parsePort(payload) };
    case 'Connection':
      unitOrPayload(name, payload, false);
      return { type: 'Connection', id: parseUuid(payload) };
    case 'Error':
      unitOrPayload(name, payload, false);
      return { type: 'Error', message: parseString(payload) };
    case 'PoolOffer':
      unitOrPayload(name, payload, false);
      return { type: 'PoolOffer', ...parseOffer(payload) };
    default:
      throw new ProtocolError(`unknown server message: ${preview(name)}`);
  }
}

/** The JSON value of a client message, as the Rust client serializes it. */
export function clientMessageJson(msg: ClientMessage): unknown {
  switch (msg.type) {
    case 'Authenticate':
      return { Authenticate: msg.tag };
    case 'Hello':
      return { Hello: msg.port };
    case 'Accept':
      return { Accept: msg.id };
    case 'PoolRequest':
      return { PoolRequest: msg.size };
    case 'PoolJoin':
      return { PoolJoin: msg.quiet ? msg.token.replaceAll('-', '') : msg.token };
    case 'HeartbeatInterval':
      return { HeartbeatInterval: msg.ms };
    case 'MuxJoin':
      return { MuxJoin: msg.token };
  }
}

/** The JSON value of a server message, as the Rust server serializes it. */
export function serverMessageJson(msg: ServerMessage): unknown {
  switch (msg.type) {
    case 'Heartbeat':
      return 'Heartbeat';
    case 'Challenge':
      return { Challenge: msg.id };
    case 'Hello':
      return { Hello: msg.port };
    case 'Connection':
      return { Connection: msg.id };
    case 'Error':
      return { Error: msg.message };
    case 'PoolOffer':
      return { PoolOffer: { token: msg.token, size: msg.size } };
  }
}
