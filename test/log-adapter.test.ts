/**
 * `objectFirstLogger`: a pino (or bunyan) logger, called as `(fields, message)`, behind
 * the library's `(message, fields)` {@link Logger}. Checked against the real pino: the
 * JSON lines it writes carry our message as `msg` and our fields as its keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import { BoreServer, objectFirstLogger } from 'bore-ts';

/** A pino logger writing its JSON lines into `lines` (pino writes to a plain stream synchronously). */
function capturedPino(level = 'debug') {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ level }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { log, lines };
}

test('each level writes one pino line with our message as msg and our fields as keys', () => {
  const { log, lines } = capturedPino();
  const logger = objectFirstLogger(log);
  logger.error('control listener failed', { reason: 'EMFILE' });
  logger.warn('refusing client', { peer: '203.0.113.7:51234', reason: 'invalid secret' });
  logger.info('new client', { peer: '203.0.113.7:51234', port: 40001 });
  logger.debug('forwarding connection', { port: 40001, id: 'a-b-c' });
  assert.deepEqual(
    lines.map(({ level, msg, peer, port, reason, id }) => ({ level, msg, peer, port, reason, id })),
    [
      { level: 50, msg: 'control listener failed', peer: undefined, port: undefined, reason: 'EMFILE', id: undefined },
      { level: 40, msg: 'refusing client', peer: '203.0.113.7:51234', port: undefined, reason: 'invalid secret', id: undefined },
      { level: 30, msg: 'new client', peer: '203.0.113.7:51234', port: 40001, reason: undefined, id: undefined },
      { level: 20, msg: 'forwarding connection', peer: undefined, port: 40001, reason: undefined, id: 'a-b-c' },
    ],
  );
});

test('a line without fields is just the message, taken literally (no printf-style %s)', () => {
  const { log, lines } = capturedPino();
  objectFirstLogger(log).info('server stopped at 100%s');
  assert.equal(lines.length, 1);
  const { level, msg, time, pid, hostname, ...rest } = lines[0]!;
  assert.deepEqual({ level, msg }, { level: 30, msg: 'server stopped at 100%s' });
  assert.equal(typeof time, 'number');
  assert.equal(typeof pid, 'number');
  assert.equal(typeof hostname, 'string');
  assert.deepEqual(rest, {});
});

test("pino's level applies, also when changed after the adapter was made", () => {
  const { log, lines } = capturedPino('info');
  const logger = objectFirstLogger(log);
  logger.debug('hidden at info');
  logger.info('shown at info');
  log.level = 'debug';
  logger.debug('shown at debug');
  assert.deepEqual(
    lines.map((l) => l.msg),
    ['shown at info', 'shown at debug'],
  );
});

test('a BoreServer logs through it: server listening with its port, server stopped', async () => {
  const { log, lines } = capturedPino();
  const server = new BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', minPort: 25600, maxPort: 25699, logger: objectFirstLogger(log) });
  const port = await server.listen();
  await server.close(0);
  const listening = lines.find((l) => l.msg === 'server listening');
  assert.ok(listening, `no 'server listening' line in ${JSON.stringify(lines)}`);
  assert.deepEqual(
    { port: listening.port, addr: listening.addr, minPort: listening.minPort, maxPort: listening.maxPort, auth: listening.auth },
    { port, addr: '127.0.0.1', minPort: 25600, maxPort: 25699, auth: false },
  );
  assert.equal(lines.at(-1)!.msg, 'server stopped');
});

test('something that is not a logger is refused at once with a TypeError', () => {
  assert.throws(() => objectFirstLogger({ info() {} } as never), {
    name: 'TypeError',
    message: /^log must be a pino or bunyan logger \(error, warn, info and debug methods\), got/,
  });
});
