/**
 * Upstream #170 ("dies after hours"): many control-connection losses in a row, in one
 * process, must leave no trace: no growing set of timers, sockets or listeners, a
 * bounded heap, and a tunnel that still carries data at the end.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startTunnel } from '../src/run/tunnel.js';
import { BoreServer } from '../src/server/server.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';
import { connect, roundTrip, startEchoServer } from './helpers/procs.js';

const CYCLES = 150;

/** Open handles of this process by kind (sockets, timers, ...). */
function handles(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  return counts;
}

test(`${CYCLES} control-connection losses leave no leaked handles and a working tunnel`, async () => {
  const echo = await startEchoServer();
  const server = new BoreServer({ controlPort: 0, bindAddr: '127.0.0.1', bindTunnels: '127.0.0.1', minPort: 24500, maxPort: 24599 });
  const relay = new FlakyProxy(await server.listen());
  const tunnel = startTunnel({
    localPort: echo.port,
    to: '127.0.0.1',
    localHost: '127.0.0.1',
    controlPort: await relay.listen(),
    maxReconnectDelayMs: 20, // retry at once: this test is about cycles, not timing
    stableAfterMs: 1,
  });
  let warnings = 0;
  const onWarning = () => warnings++;
  process.on('warning', onWarning);
  try {
    const port = await tunnel.ready;
    const listening = () =>
      new Promise<void>((resolve) => {
        const sub = tunnel.actor.subscribe((s) => {
          if (s.matches('listening') && s.context.reconnects > reconnectsBefore) {
            sub.unsubscribe();
            resolve();
          }
        });
      });
    let reconnectsBefore = 0;
    let baseline: Record<string, number> | undefined;
    let heapAt10 = 0;
    for (let i = 0; i < CYCLES; i++) {
      reconnectsBefore = tunnel.actor.getSnapshot().context.reconnects;
      const back = listening();
      relay.cut(relay.relays.findLastIndex((r) => !r.client.destroyed));
      await back;
      if (i === 10) {
        baseline = handles();
        heapAt10 = process.memoryUsage().heapUsed;
      }
    }
    const after = handles();
    for (const [kind, n] of Object.entries(after)) {
      assert.ok(n <= (baseline![kind] ?? 0) + 4, `${kind}: ${baseline![kind] ?? 0} after 10 cycles, ${n} after ${CYCLES}`);
    }
    const growthMb = (process.memoryUsage().heapUsed - heapAt10) / 2 ** 20;
    assert.ok(growthMb < 20, `heap grew ${growthMb.toFixed(1)} MB over ${CYCLES - 10} reconnects`);
    assert.equal(warnings, 0, 'no MaxListenersExceeded or other process warnings');
    const snap = tunnel.actor.getSnapshot();
    assert.equal(snap.context.reconnects, CYCLES);
    assert.equal(snap.context.publicPort, port, 'the same public port all along');
    assert.equal((await roundTrip(await connect(port), Buffer.from('still here'))).toString(), 'still here');
  } finally {
    process.off('warning', onWarning);
    await tunnel.stop();
    await server.close(0);
    await relay.close();
    await echo.close();
  }
});
