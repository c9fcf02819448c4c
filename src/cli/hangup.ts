/**
 * SIGHUP from the process's first moment. Its default action kills the process, so
 * `src/cli/bin.ts` calls {@link catchHangups} before it loads the CLI; the command then
 * takes each SIGHUP over with {@link onHangup} once it can act on it, and one that
 * arrived before is handed over at that moment (several count as one: a reload reads
 * the newest file anyway). `bore up` reloads its config file; `bore local` and `bore
 * server` have nothing to reload: they say so and keep running, so a terminal hang-up
 * (a tunnel started in the background of a shell that closes) stops nothing.
 *
 * The state lives on `globalThis`: `bin.ts` and the CLI are separate bundles, each
 * with its own copy of this module.
 */

interface HangupState {
  /** A SIGHUP arrived while no handler was set. */
  pending: boolean;
  handler: (() => void) | undefined;
}

const KEY = Symbol.for('bore.hangup');
const holder = globalThis as { [KEY]?: HangupState };

/** Catches SIGHUP from now on (once per process; later calls do nothing): until {@link onHangup}, one that arrives is remembered. */
export function catchHangups(): void {
  hangups();
}

function hangups(): HangupState {
  const existing = holder[KEY];
  if (existing) return existing;
  const state: HangupState = { pending: false, handler: undefined };
  holder[KEY] = state;
  process.on('SIGHUP', () => {
    if (state.handler) state.handler();
    else state.pending = true;
  });
  return state;
}

/** Hands every SIGHUP to `handler` from now on, and at once one that arrived before. */
export function onHangup(handler: () => void): void {
  const state = hangups();
  state.handler = handler;
  if (state.pending) {
    state.pending = false;
    handler();
  }
}

/** SIGHUP for a command with nothing to reload (`bore local`, `bore server`): one info line, and it keeps running. */
export function ignoreHangups(logger: { info(message: string): unknown }, command: 'local' | 'server'): void {
  const hint = command === 'local' ? 'use bore up with a config file to reload' : 'restart it to change its settings';
  onHangup(() => void logger.info(`received SIGHUP: nothing to reload for bore ${command}, still running (${hint})`));
}
