/** Reading `bore local --inspect`'s HTTP endpoints from tests, and the headless Chromium that shows its page. */
import http from 'node:http';
import type { TestContext } from 'node:test';
import type { Browser } from 'playwright-core';

/** What a test reads of a pushed snapshot. */
export interface EventData {
  value?: unknown;
  context?: {
    pool?: { size: number; idle: number; served: number; fallbacks: number; inUse: number };
    tls?: { protocol: string; cipher: string; subject: string; fingerprint: string; validTo: string; resumed: boolean } | null;
  };
}

/** Follows `/events` until `until(event, data)` holds; resolves with everything read. */
export function readEvents(port: number, until: (event: string, data: EventData) => boolean, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const req = http.get({ host: '127.0.0.1', port, path: '/events' }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
        for (const block of text.split('\n\n')) {
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data && until(event, JSON.parse(data))) {
            clearTimeout(timer);
            req.destroy();
            resolve(text);
            return;
          }
        }
      });
    });
    req.on('error', () => {});
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`timed out waiting on /events; got:\n${text.slice(-2000)}`));
    }, timeoutMs);
  });
}

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** Headless Chromium, closed after the test; `undefined` (the test skipped, saying why) when it cannot start. */
export async function launchBrowser(t: TestContext): Promise<Browser | undefined> {
  const { chromium } = await import('playwright-core');
  try {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    t.after(() => browser.close());
    return browser;
  } catch (err) {
    t.skip(`cannot launch ${CHROMIUM} (install it: apt-get install -y chromium): ${(err as Error).message.split('\n')[0]}`);
    return undefined;
  }
}
