// Preloaded with `node --import` by test/start-builtins.test.ts: on SIGUSR2, prints the
// Node built-in modules the process has loaded so far (`process.moduleLoadList`) and the
// files of the bundle it has loaded: the modules Node loads (through `module.registerHooks`,
// Node 22.15 and later) and the chunks the CLI's chunk loader compiles (`vm.Script`).
import module from 'node:module';
import vm from 'node:vm';
import { pathToFileURL } from 'node:url';

const files = [];
module.registerHooks?.({
  load(url, context, nextLoad) {
    if (url.startsWith('file:')) files.push(url);
    return nextLoad(url, context);
  },
});
const Script = vm.Script;
vm.Script = class extends Script {
  constructor(code, options) {
    if (typeof options?.filename === 'string' && options.filename.startsWith('/')) files.push(pathToFileURL(options.filename).href);
    super(code, options);
  }
};

process.on('SIGUSR2', () => {
  const names = process.moduleLoadList.filter((m) => m.startsWith('NativeModule ')).map((m) => m.slice('NativeModule '.length));
  process.stderr.write(`\nbuilt-ins loaded: ${names.join(' ')}\n`);
  process.stderr.write(`\nfiles loaded: ${files.join(' ')}\n`);
});
