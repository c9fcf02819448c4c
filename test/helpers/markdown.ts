/**
 * What the README test reads from Markdown: the shell commands of its code blocks, its
 * relative links, and the anchors its headings make (as GitHub makes them).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

/** A command shown in a shell code block, with the line it starts on. */
export interface ShownCommand {
  line: number;
  text: string;
}

/** Info strings of fenced blocks that hold shell commands (an indented block always does). */
const SHELL_FENCES = new Set(['', 'sh', 'bash', 'shell', 'console']);

/**
 * The shell commands of `markdown`'s code blocks: fenced ones marked as shell (or not
 * marked) and indented ones. A line ending in `\` goes on with the next; `a && b` is two
 * commands; a trailing `# comment` and a leading `$ ` are dropped.
 */
export function shellCommands(markdown: string): ShownCommand[] {
  const lines = markdown.split('\n');
  const commands: ShownCommand[] = [];
  let fence: { marker: string; shell: boolean } | undefined;
  let indented = false;
  let pending: ShownCommand | undefined;
  const take = (line: number, raw: string) => {
    const text = raw.replace(/^\$ /, '');
    if (pending) pending.text += ' ' + text.trim();
    else pending = { line, text: text.trim() };
    if (pending.text.endsWith('\\')) {
      pending.text = pending.text.slice(0, -1).trim();
      return;
    }
    for (const part of withoutComment(pending.text).split(/\s+&&\s+/)) {
      if (part) commands.push({ line: pending.line, text: part });
    }
    pending = undefined;
  };
  lines.forEach((raw, i) => {
    const fenceMatch = /^\s{0,3}(`{3,}|~{3,})\s*([\w-]*)/.exec(raw);
    if (fence) {
      if (fenceMatch && fenceMatch[1]!.startsWith(fence.marker)) fence = undefined;
      else if (fence.shell && raw.trim()) take(i + 1, raw);
      return;
    }
    if (fenceMatch) {
      fence = { marker: fenceMatch[1]!, shell: SHELL_FENCES.has(fenceMatch[2]!) };
      indented = false;
      return;
    }
    const blankBefore = i === 0 || lines[i - 1]!.trim() === '';
    if (/^ {4}/.test(raw) && raw.trim() && (indented || blankBefore || pending)) {
      indented = true;
      take(i + 1, raw.slice(4));
    } else if (raw.trim()) {
      indented = false;
    }
  });
  return commands;
}

/** `text` without a trailing ` # comment` (a `#` after whitespace, outside quotes). */
function withoutComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && i > 0 && /\s/.test(text[i - 1]!)) {
      return text.slice(0, i).trim();
    }
  }
  return text.trim();
}

/** `markdown` without its code: fenced blocks, indented blocks and inline code spans. */
function prose(markdown: string): string {
  return markdown
    .replace(/^\s{0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\s{0,3}\1[^\n]*$/gm, '')
    .replace(/(^|\n\n)( {4}[^\n]*\n?)+/g, '$1')
    .replace(/`+[^`\n]*`+/g, '');
}

/** The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to `-`. */
export function anchorOf(heading: string): string {
  return heading
    .replace(/`/g, '')
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

/** The anchors of the headings of `markdown`. */
export function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  for (const line of markdown.replace(/^\s{0,3}(`{3,}|~{3,})[^\n]*\n[\s\S]*?^\s{0,3}\1[^\n]*$/gm, '').split('\n')) {
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (m) anchors.add(anchorOf(m[1]!));
  }
  return anchors;
}

/**
 * The relative links and images of the Markdown file `file` that do not resolve: a
 * missing file, or an `#anchor` that no heading of the target makes. Each is
 * `file: target (why)`, the file relative to `root`.
 */
export function brokenLinks(file: string, root: string): string[] {
  const text = readFileSync(file, 'utf8');
  const broken: string[] = [];
  for (const m of prose(text).matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
    const [path, anchor] = target.split('#') as [string, string | undefined];
    const resolved = path ? join(dirname(file), path) : file;
    const where = `${relative(root, file)}: ${target}`;
    if (!existsSync(resolved)) {
      broken.push(`${where} (no such file)`);
    } else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor)) {
      broken.push(`${where} (no heading makes #${anchor})`);
    }
  }
  return broken;
}
