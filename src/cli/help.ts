/**
 * `--help` as users of clap-style tools read it: each flag with the placeholder of its
 * value (`--to <HOST>`, `--heartbeat-timeout <SECONDS>`) and without yargs's type tags
 * (`[string]`, `[boolean]`); defaults, choices and environment variables stay. yargs
 * renders the text (it has no placeholders); this rewrites its option lines.
 */

/** Whether `args` ask for help (`--help` or `-h` before a `--`). */
export function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}

/** One option line of yargs's help: its flag column and the rest. */
const FLAG_LINE = /^( {2}(?:-\w, )?| {6})--([\w-]+)( +)(.*)$/;

/** The flag column of `text` (yargs's help) as yargs set it and as wide as the placeholders need; undefined without options. */
function columns(lines: readonly (RegExpExecArray | null)[], placeholder: (flag: string) => string) {
  const column = lines.find((m) => m !== null);
  if (!column) return undefined;
  const from = column[1]!.length + 2 + column[2]!.length + column[3]!.length;
  const heads = lines.map((m) => (m ? `${m[1]}--${m[2]}${placeholder(m[2]!) ? ` ${placeholder(m[2]!)}` : ''}` : ''));
  return { from, to: Math.max(from, ...heads.map((h) => h.length + 2)), heads };
}

/** How many columns the placeholders widen the flag column of `text` (yargs's help) by. */
export function widening(text: string, placeholder: (flag: string) => string): number {
  const c = columns(
    text.split('\n').map((line) => FLAG_LINE.exec(line)),
    placeholder,
  );
  return c ? c.to - c.from : 0;
}

/** `text` (yargs's help) with `placeholder(flag)` after each flag that takes a value and the type tags dropped. */
export function withPlaceholders(text: string, placeholder: (flag: string) => string): string {
  const lines = text.split('\n');
  const flagLines = lines.map((line) => FLAG_LINE.exec(line));
  const c = columns(flagLines, placeholder);
  if (!c) return text;
  // yargs's description column, and the wider one that fits every flag with its placeholder.
  const { from, to, heads } = c;
  const indent = ' '.repeat(from);
  return lines
    .map((line, i) => {
      const m = flagLines[i];
      const out = m ? heads[i]!.padEnd(to) + m[4] : line.startsWith(indent) ? ' '.repeat(to) + line.slice(from) : line;
      return out.replace(/ ?\[(?:string|boolean)\]/g, '').trimEnd();
    })
    .filter((line, i) => line !== '' || lines[i]!.trim() === '')
    .join('\n');
}
