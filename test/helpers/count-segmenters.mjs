// Preloaded with `node --import` by test/bundle.test.ts: counts the Intl.Segmenter
// objects a process builds and prints the count on exit.
let built = 0;
const Original = Intl.Segmenter;
Intl.Segmenter = class extends Original {
  constructor(...args) {
    super(...args);
    built++;
  }
};
process.on('exit', () => process.stderr.write(`\nIntl.Segmenter objects built: ${built}\n`));
