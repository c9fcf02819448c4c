/**
 * The log of a tunnel's transitions, as the client machine's named log actions call it
 * (`logConnecting`, `logListening`, `logBackoff`...): the chart says where each line is
 * logged, the runner's runtime carries the log under {@link TRANSITION_LOG}
 * (`src/run/tunnel-log.ts`), and a runtime without one (a test's, an embedder's plain
 * `ClientRuntime`, whatever other fields it has) logs nothing. Given through the runtime,
 * not with `machine.provide({ actions })`: `provide` builds the whole machine a second
 * time, some 120 KB of a start's allocations and a millisecond of its time.
 */

/** The lines of one tunnel's transitions, each called as its state is entered. */
export interface TransitionLog<Context> {
  /** Entering `connecting` (the attempt counted). */
  connecting(context: Context): void;
  /** Connected, with TLS: its handshake starts. */
  securing(context: Context): void;
  /** Connected (and secured, with TLS): the bore handshake starts. */
  authenticating(context: Context): void;
  /** The server opened the tunnel (the port recorded). */
  listening(context: Context): void;
  /** No pool offer in time: new connections take the standard path. */
  noPool(): void;
  /** Entering `backoff` (the retry scheduled). */
  backoff(context: Context): void;
  /** Giving up (`fatal`). */
  fatal(context: Context): void;
  /** Stopped by `STOP`. */
  stopped(): void;
}

/** The key under which a runtime carries its {@link TransitionLog}: a symbol, so no field of an embedder's runtime is taken for one. */
export const TRANSITION_LOG: unique symbol = Symbol('bore.transitionLog');

/** The transition log the runtime of a machine's `context` carries, if it has one. */
export function transitionLog<Context extends { runtime: object }>(context: Context): TransitionLog<Context> | undefined {
  return (context.runtime as { [TRANSITION_LOG]?: TransitionLog<Context> })[TRANSITION_LOG];
}
