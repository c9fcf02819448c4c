/**
 * Authentication (PROTOCOL.md, "Authentication"): the vectors recorded from the Rust
 * peers, validation, malformed tags, fresh challenges, and a secret that never shows.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { Authenticator } from '../src/protocol/auth.js';

const VECTORS = [
  ['s3cret', '28b2ff23-0da1-4991-bed5-eb404256fb40', '684c46e5fabf3a2da39f52cda05a3766257074fba006355efa0380333574006c'],
  ['s3cret', '58ba6f0c-181d-4935-aad9-d78772d1de3c', 'b94d25a4b6c35061e9a0f92b5185da5e769c989016278902b0937091d17fb456'],
  ['wrong', 'd4d40e07-6c87-43c1-a941-20e98c600b7e', 'b85242e2f876b9fc008d9fb3c08b344eca745d407d719d74d94a1259cf08c28b'],
] as const;

test('answers match the tags the Rust client computed', () => {
  for (const [secret, challenge, tag] of VECTORS) {
    assert.equal(new Authenticator(secret).answer(challenge), tag, `${secret} / ${challenge}`);
  }
});

test('validate accepts the right tag and refuses a tag for another challenge or secret', () => {
  const [, c1, t1] = VECTORS[0];
  const [, c2, t2] = VECTORS[1];
  const [, c3, t3] = VECTORS[2];
  const server = new Authenticator('s3cret');
  assert.equal(server.validate(c1, t1), true);
  assert.equal(server.validate(c2, t2), true);
  assert.equal(server.validate(c1, t1.toUpperCase()), true, 'hex is case-insensitive, as hex::decode');
  assert.equal(server.validate(c2, t1), false, 'a tag replayed on another challenge');
  assert.equal(server.validate(c3, t3), false, 'the tag of the wrong secret');
  assert.equal(new Authenticator('s3cret ').validate(c1, t1), false, 'secrets are compared exactly');
  // One flipped bit anywhere in the tag is refused.
  for (const pos of [0, 31, 63]) {
    const flipped = t1.slice(0, pos) + (t1[pos] === '0' ? '1' : '0') + t1.slice(pos + 1);
    assert.equal(server.validate(c1, flipped), false, `flipped digit ${pos}`);
  }
});

test('tags that are not 64 hex digits are refused without throwing', () => {
  const [, challenge, tag] = VECTORS[0];
  const server = new Authenticator('s3cret');
  for (const bad of [
    '',
    tag.slice(0, 62), // 31 bytes
    tag.slice(0, 63), // odd length
    `${tag}00`, // 33 bytes
    `${tag.slice(0, 63)}g`, // not hex
    `${tag.slice(0, 62)} 6`,
    `0x${tag.slice(2)}`,
    'z'.repeat(64),
  ]) {
    assert.doesNotThrow(() => server.validate(challenge, bad));
    assert.equal(server.validate(challenge, bad), false, JSON.stringify(bad));
  }
});

test('challenges are fresh lowercase hyphenated random UUIDs', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 100; i++) {
    const c = Authenticator.challenge();
    assert.match(c, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    seen.add(c);
  }
  assert.equal(seen.size, 100);
  // A challenge round-trips through answer/validate.
  const auth = new Authenticator('another secret');
  const c = Authenticator.challenge();
  assert.equal(auth.validate(c, auth.answer(c)), true);
});

test('the secret and key never show in JSON or inspect output', () => {
  const secret = 'hunter2-very-secret';
  const auth = new Authenticator(secret);
  // String(auth) is the point: whatever a caller does with it must not show the secret.
  // eslint-disable-next-line @typescript-eslint/no-base-to-string
  for (const text of [JSON.stringify(auth), JSON.stringify({ auth }), inspect(auth, { showHidden: true, depth: 5 }), String(auth)]) {
    assert.ok(!text.includes(secret), text);
  }
});
