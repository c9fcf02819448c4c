// Preloaded with `node --import` by test/start-builtins.test.ts: on SIGUSR2, prints the
// Node built-in modules the process has loaded so far (`process.moduleLoadList`) and the
// files of the bundle it has loaded (through `module.registerHooks`, Node 22.15 and later).
import module from 'node:module';

const files = [];
module.registerHooks?.({
  load(url, context, nextLoad) {
    if (url.startsWith('file:')) files.push(url);
    return nextLoad(url, context);
  },
});

process.on('SIGUSR2', () => {
  const names = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  process.stderr.write(`\nbuilt-ins loaded: ${names.join(' ')}\n`);
  process.stderr.write(`\nfiles loaded: ${files.join(' ')}\n`);
});
