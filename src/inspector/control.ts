/**
 * `POST /control`: the page's "reconnect now" and "stop" buttons, the inspector's only
 * state-changing requests. A request is obeyed only when all of these hold: its Host
 * names the loopback (checked by the server for every request: no DNS rebinding), its
 * Origin is the page's own (`http://<host>` of the request; a browser sends it with
 * every POST, so another site's page is refused), its `Sec-Fetch-Site`, if sent, is
 * `same-origin`, it carries the per-run token embedded in the page
 * (`x-bore-token`; another site cannot read the page to learn it), and its body is
 * JSON (`content-type: application/json`, which a cross-site form cannot send):
 * `{ "tunnel": "<name>" | "", "action": "reconnect" | "stop" }`.
 */
import type http from 'node:http';
import { nodeCrypto } from '../protocol/on-demand.js';
import type { ActorRefLike } from 'xstate';

/** What a control request asks. */
export interface ControlRequest {
  /** The tunnel's name under a supervisor; `''`: the root machine (a single tunnel, or the whole set). */
  tunnel: string;
  /** `reconnect`: skip the backoff's wait (`RETRY_NOW`); `stop`: stop the tunnel (`STOP`). */
  action: 'reconnect' | 'stop';
}

/** Largest body read. */
const MAX_BODY = 1024;

/** The machine event of each action. */
const EVENTS = { reconnect: 'RETRY_NOW', stop: 'STOP' } as const;

/** Why `req` may not change anything (a 403's text), or undefined when it may. */
export function refusal(req: http.IncomingMessage, token: string): string | undefined {
  const origin = req.headers.origin;
  if (origin !== `http://${req.headers.host}`) return 'forbidden: not from the inspector page (Origin)';
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin') return 'forbidden: not from the inspector page (Sec-Fetch-Site)';
  const given = Buffer.from(String(req.headers['x-bore-token'] ?? ''));
  const want = Buffer.from(token);
  if (given.length !== want.length || !nodeCrypto().timingSafeEqual(given, want))
    return 'forbidden: missing or wrong page token (reload the page)';
  if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) return 'forbidden: the body must be application/json';
  return undefined;
}

/** Reads and checks the body of a control request: the request, or the text of a 400. */
export async function readControl(req: http.IncomingMessage): Promise<ControlRequest | string> {
  let text = '';
  for await (const chunk of req) {
    text += String(chunk);
    if (text.length > MAX_BODY) return 'body too large';
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'the body is not JSON';
  }
  const { tunnel, action } = (body ?? {}) as Record<string, unknown>;
  if (typeof tunnel !== 'string') return 'missing "tunnel" (a tunnel name, or "" for the whole process)';
  if (action !== 'reconnect' && action !== 'stop') return '"action" must be "reconnect" or "stop"';
  return { tunnel, action };
}

/** Sends the action's event to `actor`: the status and text of the answer. */
export function applyControl(actor: ActorRefLike | undefined, request: ControlRequest): { status: number; text: string } {
  const name = request.tunnel === '' ? 'the tunnel process' : `tunnel ${request.tunnel}`;
  if (!actor) return { status: 409, text: `${name} is not running\n` };
  const event = { type: EVENTS[request.action] };
  const snapshot = actor.getSnapshot() as { can?: (e: { type: string }) => boolean };
  if (snapshot.can && !snapshot.can(event)) {
    return { status: 409, text: request.action === 'reconnect' ? `${name} is not waiting to reconnect\n` : `${name} cannot stop now\n` };
  }
  actor.send(event);
  return { status: 202, text: request.action === 'reconnect' ? `${name}: reconnecting now\n` : `${name}: stopping\n` };
}
