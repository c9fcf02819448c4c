/**
 * The page's live log (`#log`): a line per log entry of the hub, newest first, in plain
 * words (`dashboard.ts`), the raw event in its `title` and `data-event`; routine lines
 * (`li.routine`: heartbeats, connections, the pool) are shown only when the list has the
 * class `show-routine`, and are the first to go when the list is full, so that a busy
 * tunnel's connections do not push its changes of state out.
 */
import { formatTime, logText } from './format.js';
import { friendlyLogText, isRoutine } from './dashboard.js';
import type { LogEntryView } from './wire.js';

/** Most lines kept on the page. */
export const LOG_LINES = 200;

/** Adds or updates (same `seq`) the lines of `entries` in `list`; `items` maps each `seq` to its line. */
export function addLog(list: HTMLOListElement, items: Map<number, HTMLLIElement>, entries: readonly LogEntryView[]): void {
  for (const e of entries) {
    let li = items.get(e.seq);
    if (!li) {
      li = document.createElement('li');
      items.set(e.seq, li);
      list.insertBefore(li, list.firstChild);
      while (list.children.length > LOG_LINES) drop(list, items);
    }
    li.className = e.kind + (isRoutine(e) ? ' routine' : '');
    li.setAttribute('data-event', e.event);
    li.title = logText(e);
    const time = document.createElement('span');
    time.className = 't';
    time.textContent = formatTime(e.time);
    li.replaceChildren(time, document.createTextNode(friendlyLogText(e)));
  }
}

/** Removes the oldest routine line, or else the oldest line. */
function drop(list: HTMLOListElement, items: Map<number, HTMLLIElement>): void {
  const lines = Array.from(list.children);
  const gone = [...lines].reverse().find((li) => li.classList.contains('routine')) ?? lines[lines.length - 1];
  if (!gone) return;
  for (const [seq, item] of items) if (item === gone) items.delete(seq);
  gone.remove();
}

/** A line of the page's own (a restart), kept when the log starts over. */
export function note(list: HTMLOListElement, text: string): void {
  const li = document.createElement('li');
  li.className = 'restart';
  li.textContent = `${formatTime(Date.now())}  ${text}`;
  list.insertBefore(li, list.firstChild);
}
