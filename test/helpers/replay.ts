/**
 * Test helpers for replaying the recorded Rust sessions (`wire/*.json`, see
 * PROTOCOL.md): loading and parsing the transcripts, and a byte reader that waits on
 * socket events for exact byte counts, frames or EOF.
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import net, { type Socket } from 'node:net';
import { once } from 'node:events';

/**
 * Where the transcripts live: `$BORE_WIRE_DIR`, else `test/fixtures/wire` (the
 * repository's copy; see its README). A missing folder is an error, never a silent skip.
 */
export const WIRE_DIR = process.env.BORE_WIRE_DIR ?? fileURLToPath(new URL('../fixtures/wire', import.meta.url));

/** One step of a recorded connection: frames (text without the NUL) or raw bytes. */
export type Step = { dir: 'c2s' | 's2c'; kind: 'frames'; frames: string[] } | { dir: 'c2s' | 's2c'; kind: 'raw'; data: Buffer };

/** One TCP connection to the control port, as recorded. */
export interface RecordedConnection {
  /** `control` if the client sent `Hello` on it, `data` if it sent `Accept`. */
  kind: 'control' | 'data';
  /** The recorded chunks with frames split out; raw bytes after `Accept` stay raw. */
  steps: Step[];
}

/** One recorded scenario. */
export interface Transcript {
  scenario: string;
  server_secret: string | null;
  client_secret: string | null;
  requested_port: number;
  connections: RecordedConnection[];
}

interface RawTranscript {
  scenario: string;
  server_secret: string | null;
  client_secret: string | null;
  requested_port: number;
  connections: { chunks: { dir: 'c2s' | 's2c'; data: string }[] }[];
}

/** Splits one recorded connection into frame steps and raw steps. */
function parseConnection(raw: RawTranscript['connections'][number], where: string): RecordedConnection {
  const steps: Step[] = [];
  let framed = true;
  let kind: RecordedConnection['kind'] | undefined;
  for (const chunk of raw.chunks) {
    let bytes = Buffer.from(chunk.data, 'latin1');
    if (!framed) {
      steps.push({ dir: chunk.dir, kind: 'raw', data: bytes });
      continue;
    }
    const frames: string[] = [];
    while (framed && bytes.length > 0) {
      const end = bytes.indexOf(0);
      if (end === -1) throw new Error(`${where}: chunk ends inside a frame: ${JSON.stringify(bytes.toString('latin1'))}`);
      const text = bytes.subarray(0, end).toString('utf8');
      frames.push(text);
      bytes = bytes.subarray(end + 1);
      if (chunk.dir === 'c2s' && text.startsWith('{"Hello":')) kind = 'control';
      if (chunk.dir === 'c2s' && text.startsWith('{"Accept":')) {
        kind = 'data';
        framed = false;
      }
    }
    steps.push({ dir: chunk.dir, kind: 'frames', frames });
    if (bytes.length > 0) steps.push({ dir: chunk.dir, kind: 'raw', data: bytes });
  }
  if (!kind) throw new Error(`${where}: the client sent neither Hello nor Accept`);
  return { kind, steps };
}

/** Loads and parses every transcript in {@link WIRE_DIR}, sorted by file name. */
export function loadTranscripts(dir = WIRE_DIR): Transcript[] {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new Error(`no transcripts in ${dir}`);
  return files.map((file) => {
    const raw = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as RawTranscript;
    return {
      scenario: raw.scenario,
      server_secret: raw.server_secret,
      client_secret: raw.client_secret,
      requested_port: raw.requested_port,
      connections: raw.connections.map((c, i) => parseConnection(c, `${file} connection ${i}`)),
    };
  });
}

/** Every recorded frame of `conn` in direction `dir`, each with its NUL. */
export function splitFrames(conn: RecordedConnection, dir: 'c2s' | 's2c'): Buffer[] {
  return conn.steps.flatMap((s) => (s.dir === dir && s.kind === 'frames' ? s.frames.map((f) => Buffer.from(`${f}\0`, 'utf8')) : []));
}

/** The bytes of a step as they crossed the wire. */
export function stepBytes(step: Step): Buffer {
  return step.kind === 'raw' ? step.data : Buffer.from(step.frames.map((f) => `${f}\0`).join(''), 'utf8');
}

/**
 * Collects everything a socket receives and lets a test wait for an exact number of
 * bytes, the next NUL-terminated frame, or EOF, each with a deadline.
 */
export class ByteReader {
  readonly socket: Socket;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #error: Error | undefined;
  #wake: (() => void) | undefined;

  constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
      this.#wake?.();
    });
    socket.on('end', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('close', () => {
      this.#ended = true;
      this.#wake?.();
    });
    socket.on('error', (err) => {
      this.#error = err;
      this.#wake?.();
    });
  }

  /** Bytes received and not yet taken. */
  get buffered(): Buffer {
    return this.#buf;
  }

  /** Whether the peer has closed its side. */
  get ended(): boolean {
    return this.#ended;
  }

  async #until<T>(what: string, take: () => T | undefined, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = take();
      if (got !== undefined) return got;
      const left = deadline - Date.now();
      const state = `received so far: ${JSON.stringify(this.#buf.toString('latin1'))}`;
      if (this.#ended || this.#error) {
        throw new Error(`connection ${this.#error ? `failed (${this.#error.message})` : 'closed'} while waiting for ${what}; ${state}`);
      }
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; ${state}`);
      await this.#sleep(left);
    }
  }

  /** Waits until more bytes, EOF or an error arrive, or `ms` pass. */
  async #sleep(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    this.#wake = undefined;
  }

  /** Takes exactly `n` bytes. */
  read(n: number, timeoutMs = 5000): Promise<Buffer> {
    return this.#until(
      `${n} bytes`,
      () => {
        if (this.#buf.length < n) return undefined;
        const out = this.#buf.subarray(0, n);
        this.#buf = this.#buf.subarray(n);
        return out;
      },
      timeoutMs,
    );
  }

  /** Takes the next frame: its text without the NUL. */
  frame(timeoutMs = 5000): Promise<string> {
    return this.#until(
      'a frame',
      () => {
        const end = this.#buf.indexOf(0);
        if (end === -1) return undefined;
        const text = this.#buf.subarray(0, end).toString('utf8');
        this.#buf = this.#buf.subarray(end + 1);
        return text;
      },
      timeoutMs,
    );
  }

  /** Waits until the peer closes its side (EOF or a reset). */
  async end(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#ended && !this.#error) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for the peer to close`);
      await this.#sleep(left);
    }
  }
}

/** A promise with its resolve and reject functions, for coordinating scripted peers. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/**
 * Connects to a loopback port and wraps the socket in a {@link ByteReader}; the socket
 * is added to `opened` so the test can close everything at the end.
 */
export async function openReader(port: number, opened: Socket[]): Promise<ByteReader> {
  const s = net.connect({ port, host: '127.0.0.1' });
  opened.push(s);
  const reader = new ByteReader(s);
  await once(s, 'connect');
  return reader;
}
