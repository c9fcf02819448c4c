/**
 * The inspector page's pure modules (`src/inspector/page/`: model, format, tunnels,
 * taken; the chart's geometry is `inspector-chart-layout.test.ts`) run here in Node, without a DOM, on the real client machine's graph; and the
 * script served at `/app.js` is the current bundle of those modules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createActor, createMachine } from 'xstate';
import { clientMachine } from '../machines/client.js';
import { bundlePage } from '../scripts/bundle.js';
import { machineGraph } from '../src/inspector/graph.js';
import { InspectorHub } from '../src/inspector/hub.js';
import { APP_JS } from '../src/inspector/page.js';
import { contextRows, formatTime, logText, transitionLabel } from '../src/inspector/page/format.js';
import { chartModel } from '../src/inspector/page/model.js';
import { labelMatchesEvent, takenEdges } from '../src/inspector/page/taken.js';
import { aggregateTone, stateTone, supervisorRows, tunnelAddress, tunnelItems } from '../src/inspector/page/tunnels.js';
import type { ChildSnapshotView, LogEntryView, SnapshotView } from '../src/inspector/page/wire.js';

test('client machine: notes in the boxes, one arrow per source and target', () => {
  const model = chartModel(machineGraph(clientMachine));
  assert.deepEqual(model.notes.get(''), ['invoke: proxies']);
  assert.deepEqual(model.notes.get('connecting'), ['entry / startAttempt, openSession']);
  assert.deepEqual(model.notes.get('backoff'), ['entry / scheduleRetry']);
  assert.deepEqual(model.notes.get('stopped'), ['entry / closeSession']);
  assert.deepEqual(model.notes.get('failed'), ['entry / closeSession']);
  assert.deepEqual(model.notes.get('listening'), [
    'entry / startProbe',
    'exit / stopProbe',
    '\u2022 PROBE.ANSWERED',
    '\u2022 PROBE.SILENT',
    '\u2022 after stableAfter / assign',
  ]);
  assert.deepEqual(model.notes.get('listening.heartbeat.alive'), ['\u21bb SERVER.HEARTBEAT', '\u21bb SERVER.ERROR', '\u21bb SERVER.POOL']);
  assert.deepEqual(model.notes.get('listening.pool.open'), ['exit / closePool']);
  assert.deepEqual(model.children.get('listening'), ['listening.heartbeat', 'listening.pool']);
  assert.deepEqual(model.children.get(''), [
    'connecting',
    'securing',
    'authenticating',
    'listening',
    'failed',
    'returning',
    'backoff',
    'fatal',
    'stopped',
  ]);
  assert.deepEqual(
    model.edges.map((e) => `${e.source}->${e.target}: ${e.labels.join('; ')}`),
    [
      '->stopped: STOP',
      'connecting->securing: CONNECTED [tlsOn]',
      'connecting->authenticating: CONNECTED',
      'connecting->failed: FAILED / recordFailure; after connectTimeout / recordFailure',
      'securing->authenticating: SECURED / secured',
      'securing->failed: FAILED / recordFailure; after tlsHandshakeTimeout / recordFailure',
      'authenticating->listening: OPENED / opened',
      'authenticating->failed: FAILED / recordFailure; after handshakeTimeout / recordFailure',
      'listening->failed: CONTROL.LOST / recordFailure',
      'listening->returning: PROBE.STEADY [awayFromFirst]',
      'listening.heartbeat.alive->failed: after heartbeatTimeout / recordFailure',
      'listening.pool.asking->listening.pool.open: SERVER.POOL / openPool',
      'listening.pool.asking->listening.pool.standard: after poolOfferTimeout',
      'listening.pool.asking->listening.pool.off: always [poolOff]',
      'listening.pool.standard->listening.pool.open: SERVER.POOL / openPool',
      'failed->fatal: always [mustGiveUp] / sayEveryServer',
      'failed->backoff: always',
      'returning->connecting: always',
      'backoff->connecting: RETRY_NOW; after retryDelay',
    ],
  );
});

test('texts: transition labels, log lines and the context table, from what the hub sends', () => {
  assert.equal(
    transitionLabel({
      source: 'a',
      targets: ['b'],
      kind: 'error',
      trigger: 'connect',
      guard: 'g',
      actions: ['xstate.raise', 'xstate.assign', 'log'],
      reenter: false,
    }),
    'error: connect [g] / assign, log',
  );
  assert.equal(
    transitionLabel({ source: 'a', targets: [], kind: 'after', trigger: '250ms', actions: ['xstate.cancel'], reenter: false }),
    'after 250ms',
  );
  assert.match(formatTime(Date.UTC(2024, 0, 1, 0, 0, 5, 7)), /^\d\d:\d\d:05\.007$/);

  const hub = new InspectorHub();
  const machine = createMachine({
    id: 'm',
    initial: 'a',
    context: { attempt: 2, publicPort: 4000, settings: { to: 'bore.pub', controlPort: 7835, localHost: 'localhost', localPort: 3000 } },
    states: { a: { on: { GO: 'b' } }, b: { on: { TICK: {} } } },
  });
  const actor = createActor(machine, { inspect: hub.inspect }).start();
  actor.send({ type: 'GO' });
  actor.send({ type: 'TICK' });
  actor.send({ type: 'TICK' });
  // The page's wire types accept the hub's values (a drift fails to compile here).
  const log: LogEntryView[] = hub.log();
  const { context, ...rest } = hub.snapshot()!;
  const snapshot: SnapshotView = { ...rest, context };
  actor.stop();
  assert.deepEqual(log.map(logText), ['xstate.init', '(start) \u2192 a   (xstate.init)', 'GO', 'a \u2192 b   (GO)', 'TICK  \u00d72']);
  const rows = contextRows(snapshot, 0);
  assert.deepEqual(
    rows.slice(0, 5).map((r) => [r.label, r.value]),
    [
      ['state', 'b'],
      ['attempt', '2'],
      ['public port', 'bore.pub:4000'],
      ['active connections', '\u2014'],
      ['last error', '\u2014'],
    ],
  );
  assert.deepEqual(
    rows.slice(8).map((r) => [r.label, r.value]),
    [
      ['control connection', 'closed'],
      ['server', 'bore.pub:7835'],
      ['TLS', '\u2014'],
      ['local service', 'localhost:3000'],
      ['connection pool', '\u2014'],
    ],
  );
  // With TLS, once secured: the protocol and cipher, and the server's certificate.
  const tls = {
    protocol: 'TLSv1.3',
    cipher: 'TLS_AES_256_GCM_SHA384',
    subject: 'CN=bore.pub',
    fingerprint: `sha256:${'AB'.repeat(32)}`,
    validTo: '2030-01-01T00:00:00.000Z',
    resumed: true,
  };
  const secured = contextRows({ ...snapshot, active: ['securing'], context: { ...snapshot.context, tls } }, 0);
  assert.deepEqual(
    secured.slice(8, 14).map((r) => [r.label, r.value]),
    [
      ['control connection', 'open'],
      ['server', 'bore.pub:7835'],
      ['TLS', 'TLSv1.3, TLS_AES_256_GCM_SHA384, session resumed'],
      ['server certificate', 'CN=bore.pub'],
      ['fingerprint', tls.fingerprint],
      ['certificate expires', '2030-01-01T00:00:00.000Z'],
    ],
  );
  const pool = { size: 4, idle: 3, opening: 0, inUse: 1, served: 120, refills: 121, fallbacks: 5, failures: 0 };
  const poolRow = (p: typeof pool) => contextRows({ ...snapshot, context: { ...snapshot.context, pool: p } }, 0).at(-1);
  assert.deepEqual(poolRow(pool), { label: 'connection pool', value: '3 idle of 4, 1 in use; 120 served, 121 refills, 5 fallbacks' });
  assert.equal(poolRow({ ...pool, size: 0, idle: 0, inUse: 0, served: 0, refills: 0, fallbacks: 0 })?.value, 'none');
  assert.equal(poolRow({ ...pool, failures: 2 })?.value, '3 idle of 4, 1 in use; 120 served, 121 refills, 5 fallbacks, 2 failures');
  assert.equal(
    contextRows({ ...snapshot, context: { ...snapshot.context, pool: { ...pool, multiplexed: { ready: true, served: 37 } } } }, 0).at(-1)
      ?.value,
    '3 idle of 4, 1 in use; 120 served, 121 refills, 5 fallbacks; multiplexed: ready, 37 served',
  );
  const failed = contextRows(
    {
      ...snapshot,
      context: {
        ...snapshot.context,
        lastError: { message: 'refused', code: 'connect-refused', class: 'retriable' },
        nextRetryAt: 2500,
        retryDelayMs: 2000,
      },
    },
    1000,
  );
  assert.deepEqual(failed[4], { label: 'last error', value: 'refused (connect-refused, retriable)', className: 'err' });
  assert.equal(failed[5]!.value, `${formatTime(2500)} (in 1.5s, delay 2.0s)`);
});

test("several tunnels: the tab of each (state, pill, address), the one that gave up, the supervisor's table, tagged log lines", () => {
  const settings = { to: 'bore.pub', controlPort: 7835, localHost: 'localhost', localPort: 3000 };
  const listening: ChildSnapshotView = {
    value: { listening: { heartbeat: 'alive', pool: 'open' } },
    active: ['listening', 'listening.heartbeat', 'listening.heartbeat.alive', 'listening.pool', 'listening.pool.open'],
    status: 'active',
    context: {
      settings,
      publicPort: 41000,
      attempt: 1,
      pool: { size: 4, idle: 4, opening: 0, inUse: 0, served: 0, refills: 4, fallbacks: 0, failures: 0 },
    },
  };
  const connecting: ChildSnapshotView = {
    value: 'connecting',
    active: ['connecting'],
    status: 'active',
    context: { settings: { ...settings, localPort: 8080 }, publicPort: null, attempt: 3, nextRetryAt: 5000 },
  };
  const error = { message: 'port 18080 not allowed', code: 'port-not-allowed', class: 'fatal' };
  const snapshot: SnapshotView = {
    value: 'running',
    active: ['running'],
    status: 'active',
    time: 0,
    context: {
      aggregate: 'degraded',
      stopping: [],
      tunnels: {
        web: { state: 'listening', publicPort: 41000, attempt: 1, lastError: null },
        api: { state: 'connecting', publicPort: null, attempt: 3, lastError: null },
        old: { state: 'fatal', publicPort: null, attempt: 1, lastError: error },
      },
    },
    children: { web: listening, api: connecting },
  };
  // The page saw the last one before it gave up: its settings stay, the supervisor's view wins.
  const items = tunnelItems(snapshot, new Map([['old', connecting]]));
  assert.deepEqual(
    items.map((t) => [t.name, t.state, t.tone, t.address]),
    [
      ['web', 'listening', 'ok', 'localhost:3000 \u2192 bore.pub:41000'],
      ['api', 'connecting', 'wait', 'localhost:8080 \u2192 bore.pub:\u2026'],
      ['old', 'fatal', 'bad', 'localhost:8080 \u2192 bore.pub:\u2026'],
    ],
  );
  assert.equal(items[0]!.view, listening, 'a running tunnel shows its own snapshot');
  const old = items[2]!.view;
  assert.deepEqual([old.value, old.active, old.status], ['fatal', ['fatal'], 'done'], 'its chart marks the final state');
  assert.deepEqual(old.context.lastError, error);
  assert.equal(old.context.nextRetryAt, null, 'no retry counts down for a tunnel that gave up');
  // Its context table is the client machine's, pool row included.
  const rows = contextRows(items[0]!.view, 0);
  assert.equal(rows.at(-1)?.value, '4 idle of 4, 0 in use; 0 served, 4 refills, 0 fallbacks');
  assert.equal(contextRows(old, 0)[4]?.className, 'err');
  // Never seen by this page (it opened after the tunnel gave up): what the supervisor knows.
  assert.deepEqual(
    tunnelItems(snapshot).map((t) => t.address),
    ['localhost:3000 \u2192 bore.pub:41000', 'localhost:8080 \u2192 bore.pub:\u2026', '\u2014'],
  );
  assert.deepEqual(tunnelItems({ ...snapshot, context: {}, children: {} }), [], 'a single tunnel has none');

  assert.deepEqual(['listening', 'connecting', 'authenticating', 'backoff', 'failed', 'fatal', 'stopped'].map(stateTone), [
    'ok',
    'wait',
    'wait',
    'wait',
    'wait',
    'bad',
    'off',
  ]);
  assert.deepEqual(['listening', 'starting', 'reconnecting', 'degraded', 'gone'].map(aggregateTone), ['ok', 'wait', 'wait', 'bad', 'off']);
  assert.equal(
    tunnelAddress({ settings: { to: '::1', localHost: '127.0.0.1', localPort: 22 }, publicPort: 2222 }),
    '127.0.0.1:22 \u2192 ::1:2222',
  );
  assert.deepEqual(
    supervisorRows(snapshot).map((r) => [r.label, r.value, r.className]),
    [
      ['state', 'running', undefined],
      ['tunnels', '3, degraded', undefined],
      ['web', 'listening, port 41000', undefined],
      ['api', 'connecting', undefined],
      ['old', 'fatal; port 18080 not allowed', 'err'],
      ['stopping', '\u2014', undefined],
    ],
  );
  const line = { seq: 1, time: 0, kind: 'transition', event: 'CONTROL.LOST', count: 1, from: 'listening', to: 'backoff' } as const;
  assert.equal(logText({ ...line, actor: 'web' }), '[web] listening \u2192 backoff   (CONTROL.LOST)');
  assert.equal(logText(line), 'listening \u2192 backoff   (CONTROL.LOST)', "the root machine's lines are not tagged");
});

test('taken arrows: from the states active before to the ones entered, through transient states, preferring the event', () => {
  const { edges } = chartModel(machineGraph(clientMachine));
  const listening = ['listening', 'listening.heartbeat', 'listening.heartbeat.alive', 'listening.pool', 'listening.pool.open'];
  // The server closes the control connection: listening → failed → backoff in one snapshot (failed is left at once).
  assert.deepEqual(takenEdges(edges, listening, ['backoff'], 'CONTROL.LOST'), ['listening->failed', 'failed->backoff']);
  assert.deepEqual(takenEdges(edges, listening, ['backoff'], 'xstate.after.heartbeatTimeout.bore.listening.heartbeat.alive'), [
    'listening.heartbeat.alive->failed',
    'failed->backoff',
  ]);
  // Without the event both ways into failed are possible.
  assert.deepEqual(takenEdges(edges, listening, ['backoff']).sort(), [
    'failed->backoff',
    'listening->failed',
    'listening.heartbeat.alive->failed',
  ]);
  assert.deepEqual(takenEdges(edges, ['backoff'], ['connecting'], 'xstate.after.retryDelay.bore.backoff'), ['backoff->connecting']);
  assert.deepEqual(takenEdges(edges, ['connecting'], ['fatal'], 'FAILED'), ['connecting->failed', 'failed->fatal']);
  assert.deepEqual(takenEdges(edges, listening, ['stopped'], 'STOP'), ['->stopped'], "the root's STOP, from any state");
  // A heartbeat re-enters listening.alive: no state is entered, no arrow is taken.
  assert.deepEqual(takenEdges(edges, listening, listening, 'SERVER.HEARTBEAT'), []);
  assert.deepEqual(takenEdges(edges, ['connecting'], ['connecting'], 'xstate.init'), []);

  // Any machine: arrows inside a parallel region.
  const parallel = chartModel(
    machineGraph(
      createMachine({
        id: 'p',
        type: 'parallel',
        states: {
          pool: { initial: 'idle', states: { idle: { on: { GROW: 'busy' } }, busy: { on: { DONE: 'idle' } } } },
          beat: { initial: 'alive', states: { alive: { on: { BEAT: { target: 'alive', reenter: true } } } } },
        },
      }),
    ),
  );
  const before = ['pool', 'pool.idle', 'beat', 'beat.alive'];
  assert.deepEqual(takenEdges(parallel.edges, before, ['pool', 'pool.busy', 'beat', 'beat.alive'], 'GROW'), ['pool.idle->pool.busy']);
  assert.deepEqual(takenEdges(parallel.edges, before, before, 'BEAT'), []);

  assert.ok(labelMatchesEvent('CONTROL.LOST / recordFailure', 'CONTROL.LOST'));
  assert.ok(labelMatchesEvent('after connectTimeout / recordFailure', 'xstate.after.connectTimeout.bore.connecting'));
  assert.ok(labelMatchesEvent('after 250ms', 'xstate.after.250.m.a'));
  assert.ok(labelMatchesEvent('always [mustGiveUp]', 'always'));
  assert.ok(!labelMatchesEvent('FAILED / recordFailure', 'FAILED.OTHER'));
  assert.ok(!labelMatchesEvent('after connectTimeout', 'xstate.after.handshakeTimeout.bore.authenticating'));
});

test('the script served at /app.js is the current bundle of src/inspector/page (else: npm run build)', async () => {
  assert.equal(APP_JS, await bundlePage());
  assert.doesNotMatch(APP_JS, /\bimport\b|\brequire\(/, 'one self-contained script');
});
