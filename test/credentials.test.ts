/**
 * Secrets for rotation, without waiting: a secret file's lines (src/system/secret-file.ts), a
 * server that accepts several secrets (src/protocol/auth.ts), and a client's secret
 * file read again at each attempt and at most once a second otherwise
 * (src/client/credentials.ts), on an injected clock. No message names a secret.
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Authenticator } from '../src/protocol/auth.js';
import { SecretFileError, parseSecrets, readSecrets } from '../src/system/secret-file.js';
import { SECRET_FILE_MAX_AGE_MS, clientCredentials } from '../src/client/credentials.js';
import { CaptureLogger } from './helpers/raw-peer.js';

const dir = mkdtempSync(join(tmpdir(), 'bore-credentials-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a secret file holds one secret per line: line ends and empty lines are not part of any', () => {
  assert.deepEqual(parseSecrets('new secret\r\nold secret\n\n'), ['new secret', 'old secret']);
  assert.deepEqual(parseSecrets('only\n'), ['only']);
  assert.deepEqual(parseSecrets('\n\n'), []);
  const empty = join(dir, 'empty');
  writeFileSync(empty, '\n');
  assert.throws(
    () => readSecrets(empty),
    (err: unknown) => err instanceof SecretFileError && err.code === 'EMPTY',
  );
  assert.throws(
    () => readSecrets(join(dir, 'missing')),
    (err: unknown) => err instanceof SecretFileError && err.code === 'ENOENT',
  );
});

test('an authenticator of several secrets accepts an answer made with any of them, and answers with the first', () => {
  const both = new Authenticator(['new', 'old']);
  const challenge = randomUUID();
  assert.ok(both.validate(challenge, new Authenticator('old').answer(challenge)));
  assert.ok(both.validate(challenge, new Authenticator('new').answer(challenge)));
  assert.ok(!both.validate(challenge, new Authenticator('other').answer(challenge)));
  assert.equal(both.answer(challenge), new Authenticator('new').answer(challenge));
  assert.throws(() => new Authenticator([]), RangeError);
});

test("a client's secret file is read again at each attempt, at most once a second otherwise; an unreadable one keeps the last secret with one warning", () => {
  const file = join(dir, 'client-secret');
  writeFileSync(file, 'first-secret\nan-older-one\n');
  const clock = { t: 0 };
  const logger = new CaptureLogger();
  const source = clientCredentials({ secretFile: file }, logger, () => clock.t);
  assert.equal(typeof source, 'function');
  const get = source as (fresh: boolean) => Authenticator;
  const challenge = randomUUID();
  const answers = (secret: string) => get(false).answer(challenge) === new Authenticator(secret).answer(challenge);
  assert.ok(answers('first-secret'), 'the first line');

  writeFileSync(file, 'second-secret\n');
  clock.t += SECRET_FILE_MAX_AGE_MS - 1;
  assert.ok(answers('first-secret'), 'not read again within a second');
  assert.equal(get(true).answer(challenge), new Authenticator('second-secret').answer(challenge), 'a new attempt reads it now');
  writeFileSync(file, 'third-secret\n');
  clock.t += SECRET_FILE_MAX_AGE_MS;
  assert.ok(answers('third-secret'), 'read again after a second');

  rmSync(file);
  for (let i = 0; i < 5; i++) {
    clock.t += SECRET_FILE_MAX_AGE_MS;
    assert.ok(answers('third-secret'), 'the secret read before');
    assert.ok(get(true));
  }
  assert.equal(logger.lines.filter((l) => l.level === 'warn').length, 1, 'one warning while it stays unreadable');
  writeFileSync(file, 'fourth-secret\n');
  clock.t += SECRET_FILE_MAX_AGE_MS;
  assert.ok(answers('fourth-secret'));
  assert.deepEqual(
    logger.lines.map((l) => [l.level, l.message]),
    [
      ['info', 'secret file changed: new connections use its first line'],
      ['info', 'secret file changed: new connections use its first line'],
      ['warn', `secret file: cannot read '${file}' (ENOENT); using the secret read before`],
      ['info', 'secret file changed: new connections use its first line'],
      ['info', 'secret file readable again'],
    ],
  );
  assert.doesNotMatch(JSON.stringify(logger.lines), /secret-/, 'no secret in any line');
});

test('a fixed secret is an authenticator; no secret is none; a file that cannot be read at the start is an option error naming the path', () => {
  assert.ok(clientCredentials({ secret: 's' }, new CaptureLogger()) instanceof Authenticator);
  assert.equal(clientCredentials({}, new CaptureLogger()), undefined);
  const missing = join(dir, 'nope');
  assert.throws(() => clientCredentials({ secretFile: missing }, new CaptureLogger()), {
    name: 'RangeError',
    message: `secretFile: cannot read '${missing}' (ENOENT)`,
  });
});
