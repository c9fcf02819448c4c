// Preloaded with `node --import` by test/start-builtins.test.ts: on SIGUSR2, prints the
// Node built-in modules the process has loaded so far (`process.moduleLoadList`).
process.on('SIGUSR2', () => {
  const names = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  process.stderr.write(`\nbuilt-ins loaded: ${names.join(' ')}\n`);
});
