/**
 * Property-based tests (fast-check) of the frame decoder and the message parsers:
 * whatever bytes arrive, split however, the decoder agrees with a simple reference
 * model, only ever fails with a ProtocolError, and holds at most one frame's worth of
 * bytes between reads; whatever text a frame holds, the parsers return a well-formed
 * message or a short ProtocolError, never anything else.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { FrameDecoder, MAX_FRAME_LENGTH, ProtocolError, encodeFrame } from '../src/protocol/framing.js';
import {
  type ClientMessage,
  type ServerMessage,
  clientMessageJson,
  decodeClientMessage,
  decodeServerMessage,
  serverMessageJson,
} from '../src/protocol/messages.js';

const RUNS = { numRuns: 300 };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Splits `bytes` at the given cut points (any numbers; taken modulo the length). */
function split(bytes: Uint8Array, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    parts.push(Buffer.from(bytes.subarray(from, p)));
    from = p;
  }
  return parts;
}

type Outcome = { frames: string[]; error: boolean };

/**
 * The reference model: cut the whole stream at every NUL; frames are accepted in order
 * until one is longer than the limit or not UTF-8, or the unterminated tail is longer
 * than the limit, which is an error.
 */
function model(bytes: Uint8Array): Outcome {
  const frames: string[] = [];
  let from = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] !== 0) continue;
    const frame = bytes.subarray(from, i);
    from = i + 1;
    if (frame.length > MAX_FRAME_LENGTH) return { frames, error: true };
    try {
      frames.push(utf8.decode(frame));
    } catch {
      return { frames, error: true };
    }
  }
  return { frames, error: bytes.length - from > MAX_FRAME_LENGTH };
}

/** Feeds the chunks to a decoder, draining after each; checks the memory bound as it goes. */
function run(chunks: Buffer[]): Outcome {
  const decoder = new FrameDecoder();
  const frames: string[] = [];
  for (const chunk of chunks) {
    decoder.push(chunk);
    try {
      for (let f = decoder.next(); f !== undefined; f = decoder.next()) frames.push(f);
    } catch (err) {
      assert.ok(err instanceof ProtocolError, `only ProtocolError may escape, got ${String(err)}`);
      assert.ok(err.message.length > 0 && err.message.length < 100, `clear, short message: ${err.message}`);
      return { frames, error: true };
    }
    assert.ok(decoder.buffered <= MAX_FRAME_LENGTH, `holds ${decoder.buffered} bytes between reads`);
  }
  return { frames, error: false };
}

/** Byte streams that exercise the interesting cases: NULs, long runs, invalid UTF-8. */
const streams = fc.oneof(
  fc.uint8Array({ maxLength: 2000 }),
  // Mostly printable with sparse NULs: frames of every length around the limit.
  fc
    .array(fc.oneof({ weight: 30, arbitrary: fc.integer({ min: 0x20, max: 0x7e }) }, { weight: 1, arbitrary: fc.constant(0) }), {
      maxLength: 2000,
    })
    .map((a) => Uint8Array.from(a)),
  // Valid frames of arbitrary text, some with stray invalid bytes mixed in.
  fc
    .array(fc.tuple(fc.string({ unit: 'binary', maxLength: 300 }), fc.option(fc.constantFrom(0xff, 0xc3, 0x80, 0xed), { freq: 8 })), {
      maxLength: 20,
    })
    .map((parts) =>
      Buffer.concat(
        parts.map(([text, junk]) =>
          Buffer.concat([
            Buffer.from(text.replace(/\0/g, ''), 'utf8'),
            junk === null ? Buffer.alloc(0) : Buffer.from([junk]),
            Buffer.from([0]),
          ]),
        ),
      ),
    ),
);

test('the decoder agrees with the reference model for any bytes split anywhere, holding at most one frame', () => {
  fc.assert(
    fc.property(streams, fc.array(fc.nat(), { maxLength: 40 }), (bytes, cuts) => {
      assert.deepEqual(run(split(bytes, cuts)), model(bytes));
    }),
    RUNS,
  );
});

test('valid frames come out intact and in order whatever the splits, byte by byte included', () => {
  const text = fc.string({ unit: 'grapheme', maxLength: 60 }).filter((t) => Buffer.byteLength(JSON.stringify(t)) <= MAX_FRAME_LENGTH);
  fc.assert(
    fc.property(fc.array(text, { maxLength: 15 }), fc.array(fc.nat(), { maxLength: 60 }), fc.boolean(), (values, cuts, byteByByte) => {
      const bytes = Buffer.concat(values.map((v) => encodeFrame(v)));
      const chunks = byteByByte ? [...bytes].map((b) => Buffer.from([b])) : split(bytes, cuts);
      const out = run(chunks);
      assert.equal(out.error, false);
      assert.deepEqual(
        out.frames.map((f) => JSON.parse(f) as unknown),
        values,
      );
    }),
    RUNS,
  );
});

test('an oversized frame is refused before more than one frame of it is held, however it arrives', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: MAX_FRAME_LENGTH + 1, max: 100_000 }),
      fc.integer({ min: 1, max: 4096 }),
      fc.boolean(),
      (length, chunkSize, terminated) => {
        const bytes = Buffer.alloc(length + (terminated ? 1 : 0), 0x61);
        if (terminated) bytes[length] = 0;
        const decoder = new FrameDecoder();
        let refused = false;
        let fed = 0;
        for (let at = 0; at < bytes.length && !refused; at += chunkSize) {
          decoder.push(bytes.subarray(at, at + chunkSize));
          fed = Math.min(bytes.length, at + chunkSize);
          try {
            while (decoder.next() !== undefined);
            assert.ok(decoder.buffered <= MAX_FRAME_LENGTH);
          } catch (err) {
            assert.ok(err instanceof ProtocolError);
            assert.match(err.message, /longer than 256 bytes/);
            refused = true;
          }
        }
        assert.ok(refused, 'the oversized frame was refused');
        // Refused within the chunk that crossed the limit, not after buffering it all.
        assert.ok(fed <= MAX_FRAME_LENGTH + chunkSize + 1, `refused only after ${fed} bytes`);
      },
    ),
    RUNS,
  );
});

/** Arbitrary JSON-ish values, including the wrong types and out-of-range numbers. */
const payloads = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.integer(),
  fc.double(),
  fc.constantFrom(-1, 65536, 1e300, -0, 0.5, 2 ** 53, Number.MAX_SAFE_INTEGER),
  fc.uuid(),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), minLength: 64, maxLength: 64 }),
);
const variants = fc.oneof(
  fc.constantFrom(
    'Hello',
    'Accept',
    'Authenticate',
    'Heartbeat',
    'Challenge',
    'Connection',
    'Error',
    'hello',
    'HELLO',
    '',
    '__proto__',
    'constructor',
  ),
  fc.string({ maxLength: 20 }),
);
/** Frame texts: arbitrary strings, arbitrary JSON, and message-shaped JSON with arbitrary parts. */
const texts = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
  variants.map((v) => JSON.stringify(v)),
  fc.tuple(variants, payloads).map(([k, v]) => JSON.stringify({ [k]: v })),
  fc.tuple(variants, payloads, variants, payloads).map(([k1, v1, k2, v2]) => JSON.stringify({ [k1]: v1, [k2]: v2 })),
  fc.tuple(variants, payloads).map(([k, v]) => `{"${k}":${JSON.stringify(v)}`), // truncated
);

/** Runs a parser; asserts it either returns or throws a short ProtocolError. */
function parse<T>(decode: (text: string) => T, text: string): T | undefined {
  try {
    return decode(text);
  } catch (err) {
    assert.ok(err instanceof ProtocolError, `only ProtocolError may escape, got ${String(err)}`);
    assert.ok(err.message.length > 0 && err.message.length <= 120, `clear, short message (${err.message.length} chars): ${err.message}`);
    return undefined;
  }
}

function assertWellFormedClient(msg: ClientMessage): void {
  switch (msg.type) {
    case 'Hello':
      assert.ok(Number.isInteger(msg.port) && msg.port >= 0 && msg.port <= 65535, `port ${msg.port}`);
      break;
    case 'Accept':
      assert.match(msg.id, UUID);
      break;
    case 'Authenticate':
      assert.equal(typeof msg.tag, 'string');
      break;
    default:
      assert.fail(`unknown type ${JSON.stringify(msg)}`);
  }
}

function assertWellFormedServer(msg: ServerMessage): void {
  switch (msg.type) {
    case 'Hello':
      assert.ok(Number.isInteger(msg.port) && msg.port >= 0 && msg.port <= 65535, `port ${msg.port}`);
      break;
    case 'Challenge':
    case 'Connection':
      assert.match(msg.id, UUID);
      break;
    case 'Error':
      assert.equal(typeof msg.message, 'string');
      break;
    case 'Heartbeat':
      break;
    default:
      assert.fail(`unknown type ${JSON.stringify(msg)}`);
  }
}

test('the client-message parser returns a well-formed message or a short ProtocolError, and what it accepts round-trips', () => {
  fc.assert(
    fc.property(texts, (text) => {
      const msg = parse(decodeClientMessage, text);
      if (msg === undefined) return;
      assertWellFormedClient(msg);
      assert.deepEqual(decodeClientMessage(JSON.stringify(clientMessageJson(msg))), msg);
    }),
    { numRuns: 2000 },
  );
});

test('the server-message parser returns a well-formed message or a short ProtocolError, and what it accepts round-trips', () => {
  fc.assert(
    fc.property(texts, (text) => {
      const msg = parse(decodeServerMessage, text);
      if (msg === undefined) return;
      assertWellFormedServer(msg);
      assert.deepEqual(decodeServerMessage(JSON.stringify(serverMessageJson(msg))), msg);
    }),
    { numRuns: 2000 },
  );
});

test('every valid client message is accepted as exactly itself', () => {
  const messages: fc.Arbitrary<ClientMessage> = fc.oneof(
    fc.integer({ min: 0, max: 65535 }).map((port) => ({ type: 'Hello' as const, port })),
    fc.uuid().map((id) => ({ type: 'Accept' as const, id: id.toLowerCase() })),
    fc.string({ maxLength: 64 }).map((tag) => ({ type: 'Authenticate' as const, tag })),
  );
  fc.assert(
    fc.property(messages, (msg) => {
      assert.deepEqual(decodeClientMessage(JSON.stringify(clientMessageJson(msg))), msg);
    }),
    { numRuns: 1000 },
  );
});

test('wrong types, out-of-range numbers and unknown variants are always refused', () => {
  const badPort = fc.oneof(
    fc.integer({ max: -1 }),
    fc.integer({ min: 65536 }),
    fc.double({ noInteger: true }),
    fc.string(),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.nat()),
  );
  const notUuid = fc.oneof(
    fc.string({ maxLength: 40 }).filter((s) => !/^[0-9a-f]{32}$/i.test(s) && !/^[0-9a-f-]{36}$/i.test(s)),
    fc.integer(),
    fc.constant(null),
  );
  const known = new Set(['Hello', 'Accept', 'Authenticate']);
  const unknownVariant = fc.string({ maxLength: 20 }).filter((s) => !known.has(s));
  const bad = fc.oneof(
    badPort.map((p) => ({ Hello: p })),
    notUuid.map((id) => ({ Accept: id })),
    fc.oneof(fc.integer(), fc.constant(null), fc.array(fc.string())).map((t) => ({ Authenticate: t })),
    fc.tuple(unknownVariant, fc.jsonValue()).map(([k, v]) => ({ [k]: v })),
    unknownVariant,
  );
  fc.assert(
    fc.property(bad, (value) => {
      assert.throws(() => decodeClientMessage(JSON.stringify(value)), ProtocolError);
    }),
    { numRuns: 1000 },
  );
});
