/**
 * The dashboard header's buttons: copy the public address, "reconnect now" and "stop".
 * The last two are `POST /control` requests carrying the per-run token the server
 * embedded in the page (`<meta name="bore-token">`); the server refuses them without it
 * or from another origin (`src/inspector/control.ts`).
 */

/** The elements and callbacks of the header's controls. */
export interface ControlsOptions {
  copy: HTMLButtonElement;
  reconnect: HTMLButtonElement;
  stop: HTMLButtonElement;
  /** Where the answer of the last request is written. */
  message: HTMLElement;
  /** The public address to copy now, if there is one. */
  address(): string | undefined;
  /** The tunnel the buttons act on (`''`: the root machine: the single tunnel, or every tunnel). */
  target(): string;
}

/** The token the server embedded in the page. */
function pageToken(): string {
  return document.querySelector('meta[name="bore-token"]')?.getAttribute('content') ?? '';
}

/** Wires the header's buttons. */
export function wireControls(o: ControlsOptions): void {
  const say = (text: string, bad = false) => {
    o.message.textContent = text;
    o.message.className = bad ? 'control-msg bad' : 'control-msg';
  };
  o.copy.addEventListener('click', () => {
    const address = o.address();
    if (!address) return;
    copyText(address).then(
      () => say(`copied ${address}`),
      () => say('could not copy: select the address instead', true),
    );
  });
  const post = async (action: 'reconnect' | 'stop') => {
    const target = o.target();
    if (action === 'stop') {
      const what = target ? `tunnel ${target}` : 'the tunnel process (every tunnel)';
      if (!window.confirm(`Stop ${what}? Its public port closes; open connections get the drain time to finish.`)) return;
    }
    try {
      const response = await fetch('/control', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-bore-token': pageToken() },
        body: JSON.stringify({ tunnel: target, action }),
      });
      say((await response.text()).trim(), !response.ok);
    } catch {
      say('the tunnel process did not answer', true);
    }
  };
  o.reconnect.addEventListener('click', () => void post('reconnect'));
  o.stop.addEventListener('click', () => void post('stop'));
}

/** Copies `text` (the Clipboard API, else a selection and `copy`). */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard) {
    try {
      await navigator.clipboard.writeText(text);
      return;
    } catch {
      // (denied: try the old way)
    }
  }
  const area = document.createElement('textarea');
  area.value = text;
  document.body.append(area);
  area.select();
  const ok = document.execCommand('copy');
  area.remove();
  if (!ok) throw new Error('copy refused');
}
