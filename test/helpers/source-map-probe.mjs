// Preloaded into the CLI by test/package.test.ts (`node --import`).
//
// When the process exits, prints whether Node's source-map support is on and the
// TypeScript sources of the map Node holds for the bundle named by PROBE_BUNDLE, or
// that it holds none: the executable leaves source maps off, so `none` is expected.
//
// With PROBE_CRASH set, makes the server crash on its first connection: reading the
// accepted socket's remoteAddress throws, and the server reads it first thing in its
// 'connection' listener (src/server/server.ts), outside any promise, so the error
// reaches the top as an uncaught exception thrown through bundled code.
import net from 'node:net';
import { findSourceMap } from 'node:module';
import { pathToFileURL } from 'node:url';

process.on('exit', () => {
  const map = findSourceMap(pathToFileURL(process.env.PROBE_BUNDLE ?? '').href);
  const sources = map ? map.payload.sources.filter((s) => s.includes('src/')).join(' ') : 'none';
  process.stderr.write(`source map probe: enabled=${process.sourceMapsEnabled} map=${sources}\n`);
});

if (process.env.PROBE_CRASH) {
  const emit = net.Server.prototype.emit;
  net.Server.prototype.emit = function (event, ...args) {
    if (event === 'connection') {
      Object.defineProperty(args[0], 'remoteAddress', {
        get() {
          throw new Error('probe: crash in the connection listener');
        },
      });
    }
    return emit.call(this, event, ...args);
  };
}
