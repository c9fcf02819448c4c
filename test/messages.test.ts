/**
 * Messages (PROTOCOL.md, "Messages"): byte-exact serde encodings, round trips of every
 * variant in both directions, every frame of the recorded Rust sessions, and clear
 * errors for everything a Rust peer would not accept.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FrameDecoder, ProtocolError, encodeFrame } from '../src/protocol/framing.js';
import {
  type ClientMessage,
  type ServerMessage,
  clientMessageJson,
  decodeClientMessage,
  decodeServerMessage,
  parseUuid,
  serverMessageJson,
} from '../src/protocol/messages.js';
import { loadTranscripts, splitFrames } from './helpers/replay.js';

const ID = '518fa307-c86d-4b48-9356-20a0fa30e064';
const TAG = '684c46e5fabf3a2da39f52cda05a3766257074fba006355efa0380333574006c';

const CLIENT_VECTORS: [ClientMessage, string][] = [
  [{ type: 'Authenticate', tag: TAG }, `{"Authenticate":"${TAG}"}`],
  [{ type: 'Hello', port: 20001 }, '{"Hello":20001}'],
  [{ type: 'Hello', port: 0 }, '{"Hello":0}'],
  [{ type: 'Hello', port: 65535 }, '{"Hello":65535}'],
  [{ type: 'Accept', id: ID }, `{"Accept":"${ID}"}`],
];

const SERVER_VECTORS: [ServerMessage, string][] = [
  [{ type: 'Challenge', id: '28b2ff23-0da1-4991-bed5-eb404256fb40' }, '{"Challenge":"28b2ff23-0da1-4991-bed5-eb404256fb40"}'],
  [{ type: 'Hello', port: 20001 }, '{"Hello":20001}'],
  [{ type: 'Heartbeat' }, '"Heartbeat"'],
  [{ type: 'Connection', id: ID }, `{"Connection":"${ID}"}`],
  [{ type: 'Error', message: 'port already in use' }, '{"Error":"port already in use"}'],
  [{ type: 'Error', message: 'quote " backslash \\ é' }, '{"Error":"quote \\" backslash \\\\ é"}'],
];

/** Decodes `frame` through the real framing layer, as a peer would read it. */
function throughDecoder(frame: Buffer): string {
  const decoder = new FrameDecoder();
  decoder.push(frame);
  const text = decoder.next();
  assert.notEqual(text, undefined);
  assert.equal(decoder.buffered, 0);
  return text!;
}

test('client messages encode byte for byte as the Rust client does, and decode back', () => {
  for (const [msg, json] of CLIENT_VECTORS) {
    const frame = encodeFrame(clientMessageJson(msg));
    assert.deepEqual(frame, Buffer.from(`${json}\0`), json);
    assert.deepEqual(decodeClientMessage(throughDecoder(frame)), msg, json);
  }
});

test('server messages encode byte for byte as the Rust server does, and decode back', () => {
  for (const [msg, json] of SERVER_VECTORS) {
    const frame = encodeFrame(serverMessageJson(msg));
    assert.deepEqual(frame, Buffer.from(`${json}\0`, 'utf8'), json);
    assert.deepEqual(decodeServerMessage(throughDecoder(frame)), msg, json);
  }
});

test('every frame of every recorded Rust session decodes and re-encodes to the same bytes', () => {
  let count = 0;
  for (const t of loadTranscripts()) {
    for (const conn of t.connections) {
      for (const dir of ['c2s', 's2c'] as const) {
        for (const frame of splitFrames(conn, dir)) {
          const text = throughDecoder(frame);
          const again =
            dir === 'c2s'
              ? encodeFrame(clientMessageJson(decodeClientMessage(text)))
              : encodeFrame(serverMessageJson(decodeServerMessage(text)));
          assert.deepEqual(again.toString(), frame.toString(), `${t.scenario} ${dir}`);
          count++;
        }
      }
    }
  }
  assert.ok(count >= 40, `only ${count} frames found in the transcripts`);
});

test('UUIDs are normalized to lowercase hyphenated form', () => {
  assert.equal(parseUuid('518FA307-C86D-4B48-9356-20A0FA30E064'), ID);
  assert.equal(parseUuid('518fa307c86d4b48935620a0fa30e064'), ID);
  assert.deepEqual(decodeServerMessage('{"Connection":"518FA307-C86D-4B48-9356-20A0FA30E064"}'), { type: 'Connection', id: ID });
});

/** Asserts that decoding `text` throws a ProtocolError whose message matches `re`. */
function rejects(decode: (text: string) => unknown, text: string, re: RegExp): void {
  assert.throws(
    () => decode(text),
    (err: unknown) => {
      assert.ok(err instanceof ProtocolError, `${text}: expected a ProtocolError, got ${String(err)}`);
      assert.match(err.message, re, text);
      return true;
    },
  );
}

test('unknown variants are refused, including the other direction’s messages', () => {
  rejects(decodeClientMessage, '"Bogus"', /unknown client message: "Bogus"/);
  rejects(decodeClientMessage, '{"Bogus":1}', /unknown client message: "Bogus"/);
  rejects(decodeClientMessage, '"Heartbeat"', /unknown client message: "Heartbeat"/);
  rejects(decodeClientMessage, `{"Connection":"${ID}"}`, /unknown client message: "Connection"/);
  rejects(decodeClientMessage, `{"Challenge":"${ID}"}`, /unknown client message: "Challenge"/);
  rejects(decodeServerMessage, '"Bogus"', /unknown server message: "Bogus"/);
  rejects(decodeServerMessage, `{"Accept":"${ID}"}`, /unknown server message: "Accept"/);
  rejects(decodeServerMessage, `{"Authenticate":"${TAG}"}`, /unknown server message: "Authenticate"/);
  rejects(decodeServerMessage, '"heartbeat"', /unknown server message/); // variant names are case-sensitive
});

test('payloads of the wrong type are refused', () => {
  rejects(decodeClientMessage, '{"Hello":"20001"}', /invalid port number: "20001"/);
  rejects(decodeClientMessage, '{"Hello":null}', /invalid port number: null/);
  rejects(decodeClientMessage, '{"Hello":[20001]}', /invalid port number/);
  rejects(decodeClientMessage, '{"Authenticate":42}', /expected a string, got 42/);
  rejects(decodeClientMessage, `{"Accept":{"id":"${ID}"}}`, /invalid UUID/);
  rejects(decodeServerMessage, '{"Error":1}', /expected a string, got 1/);
  rejects(decodeServerMessage, '{"Hello":true}', /invalid port number: true/);
  rejects(decodeServerMessage, '{"Challenge":7}', /invalid UUID: 7/);
});

test('ports outside 0..65535 or not integers are refused', () => {
  for (const [port, shown] of [
    ['65536', '65536'],
    ['-1', '-1'],
    ['1.5', '1.5'],
    ['1e10', '10000000000'],
  ] as const) {
    rejects(decodeClientMessage, `{"Hello":${port}}`, new RegExp(`invalid port number: ${shown.replace('.', '\\.')}`));
    rejects(decodeServerMessage, `{"Hello":${port}}`, /invalid port number/);
  }
});

test('malformed UUIDs are refused', () => {
  for (const bad of [
    'not-a-uuid',
    '518fa307-c86d-4b48-9356-20a0fa30e06', // one digit short
    '518fa307-c86d-4b48-9356-20a0fa30e0645', // one digit long
    '518fa307-c86d-4b48-9356-20a0fa30e06g', // not hex
    '518fa307c86d-4b48-9356-20a0fa30e064', // hyphen missing
    '',
  ]) {
    rejects(decodeClientMessage, `{"Accept":"${bad}"}`, /invalid UUID/);
    rejects(decodeServerMessage, `{"Connection":"${bad}"}`, /invalid UUID/);
    rejects(decodeServerMessage, `{"Challenge":"${bad}"}`, /invalid UUID/);
  }
});

test('objects with extra keys, or that are not one-key objects, are refused', () => {
  rejects(decodeClientMessage, `{"Hello":1,"Accept":"${ID}"}`, /not a bore message/);
  rejects(decodeServerMessage, '{"Hello":1,"Hello2":2}', /not a bore message/);
  rejects(decodeServerMessage, '{}', /not a bore message/);
  rejects(decodeServerMessage, '["Heartbeat"]', /not a bore message/);
  rejects(decodeServerMessage, '42', /not a bore message/);
  rejects(decodeServerMessage, 'null', /not a bore message/);
});

test('a unit variant with data, or a data variant without, is refused', () => {
  rejects(decodeServerMessage, '{"Heartbeat":1}', /Heartbeat takes no data/);
  rejects(decodeServerMessage, '{"Heartbeat":"x"}', /Heartbeat takes no data/);
  rejects(decodeServerMessage, '"Hello"', /Hello needs data/);
  rejects(decodeServerMessage, '"Error"', /Error needs data/);
  rejects(decodeServerMessage, '"Connection"', /Connection needs data/);
  rejects(decodeClientMessage, '"Accept"', /Accept needs data/);
  rejects(decodeClientMessage, '"Authenticate"', /Authenticate needs data/);
});

test('text that is not JSON is refused with a short preview', () => {
  rejects(decodeServerMessage, '{"Hello":', /not valid JSON/);
  rejects(decodeServerMessage, '', /not valid JSON/);
  rejects(decodeClientMessage, 'Heartbeat', /not valid JSON/);
  const long = `{"Error":"${'x'.repeat(200)}`;
  assert.throws(
    () => decodeServerMessage(long),
    (err: unknown) => err instanceof ProtocolError && err.message.length < 120,
  );
});

test('the pool extension: PoolRequest, PoolOffer and PoolJoin (acknowledged, and quiet) encode as serde would and decode back; bad ones are refused', () => {
  const token = '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b';
  const client: [ClientMessage, string][] = [
    [{ type: 'PoolRequest', size: 4 }, '{"PoolRequest":4}'],
    [{ type: 'PoolRequest', size: 10_000 }, '{"PoolRequest":10000}'],
    [{ type: 'PoolJoin', token }, `{"PoolJoin":"${token}"}`],
    // A quiet join (no acknowledgement): the same token in its simple form.
    [{ type: 'PoolJoin', token, quiet: true }, `{"PoolJoin":"${token.replaceAll('-', '')}"}`],
  ];
  for (const [msg, json] of client) {
    assert.deepEqual(encodeFrame(clientMessageJson(msg)), Buffer.from(`${json}\0`), json);
    assert.deepEqual(decodeClientMessage(json), msg, json);
  }
  const offer: ServerMessage = { type: 'PoolOffer', token, size: 16 };
  const json = `{"PoolOffer":{"token":"${token}","size":16}}`;
  assert.deepEqual(encodeFrame(serverMessageJson(offer)), Buffer.from(`${json}\0`));
  assert.deepEqual(decodeServerMessage(json), offer);
  assert.ok(json.length <= 256, 'an offer fits in a frame');
  for (const bad of ['{"PoolRequest":-1}', '{"PoolRequest":1.5}', '{"PoolRequest":"4"}', '{"PoolJoin":"nope"}', '"PoolRequest"']) {
    assert.throws(() => decodeClientMessage(bad), ProtocolError, bad);
  }
  for (const bad of [
    `{"PoolOffer":{"token":"${token}"}}`,
    `{"PoolOffer":{"token":"${token}","size":4,"extra":1}}`,
    '{"PoolOffer":{"token":"x","size":4}}',
    `{"PoolOffer":["${token}",4]}`,
  ]) {
    assert.throws(() => decodeServerMessage(bad), ProtocolError, bad);
  }
  // Each direction refuses the other's extension messages, as for the standard ones.
  assert.throws(() => decodeServerMessage('{"PoolRequest":4}'), ProtocolError);
  assert.throws(() => decodeClientMessage(json), ProtocolError);
});

test('the heartbeat extension: HeartbeatInterval encodes as serde would and decodes back; bad ones are refused', () => {
  const msg: ClientMessage = { type: 'HeartbeatInterval', ms: 2000 };
  assert.deepEqual(encodeFrame(clientMessageJson(msg)), Buffer.from('{"HeartbeatInterval":2000}\0'));
  assert.deepEqual(decodeClientMessage('{"HeartbeatInterval":2000}'), msg);
  for (const bad of ['{"HeartbeatInterval":-1}', '{"HeartbeatInterval":0.5}', '{"HeartbeatInterval":"2000"}', '"HeartbeatInterval"']) {
    assert.throws(() => decodeClientMessage(bad), ProtocolError, bad);
  }
  assert.throws(() => decodeServerMessage('{"HeartbeatInterval":2000}'), ProtocolError, 'a client message only');
});
