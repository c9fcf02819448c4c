/**
 * One ACME order with the `acme-client` library: a new key and CSR for the host name,
 * the account (found or created from the stored account key), the HTTP-01 challenge
 * answered by {@link Http01Responder}, the certificate with its chain. A failure becomes
 * an {@link AcmeError} whose message says what failed, why, and what to check.
 */
import { Client, axios as acmeAxios, crypto as acmeCrypto } from 'acme-client';
import type { AcmeStore } from './acme-store.js';
import { newPrivateKey } from './acme-store.js';
import type { Http01Responder } from './acme-http.js';
import { AcmeError } from './acme-error.js';

/** Deadline of one request to the CA (ms): an unreachable CA is reported, not waited on forever. */
export const ACME_REQUEST_TIMEOUT_MS = 30_000;

/** What an order is for and where it goes. */
export interface OrderSettings {
  /** The DNS name the certificate is for (the one clients give `--to`). */
  hostname: string;
  /** The account's contact address, if any. */
  email?: string | undefined;
  /** The CA's directory URL. */
  directoryUrl: string;
  /** The port the HTTP-01 responder listens on (the CA connects to port 80; this one if it is forwarded). */
  httpPort: number;
}

/**
 * acme-client's axios interceptor retries a request that got no answer (refused, name
 * unknown, TLS untrusted) 5 times over 75 s and then throws `Cannot read properties of
 * undefined (reading 'config')` instead of the cause (publishlab/node-acme-client#101,
 * open in 5.4). Its handler is wrapped so that such an error reaches us at once, cause
 * and code intact: a start fails in a second with the reason, and a renewal has its own
 * backoff. Answers from the CA (429, 5xx) still go through its retries. If a later axios
 * keeps its handlers elsewhere, nothing is wrapped and its behaviour stays.
 */
function reportUnansweredRequests(): void {
  type Handler = { rejected?: ((err: unknown) => unknown) | null; boreWrapped?: true } | null;
  const handlers = (acmeAxios.interceptors.response as unknown as { handlers?: Handler[] }).handlers;
  for (const handler of Array.isArray(handlers) ? handlers : []) {
    const inner = handler?.rejected;
    if (!handler || !inner || handler.boreWrapped) continue;
    handler.rejected = (err: unknown) => {
      if (err instanceof Error && (err as { response?: unknown }).response === undefined) throw err;
      return inner(err);
    };
    handler.boreWrapped = true;
  }
}

/** Network failures of a request to the CA. */
const UNREACHABLE = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNABORTED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
/** TLS verification failures of the CA's own certificate. */
const UNTRUSTED = /CERT|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)/;

/** The message of an order that failed with `err` in `phase`, with a hint at the fix. */
function describe(err: unknown, phase: 'account' | 'challenge' | 'finalize', settings: OrderSettings): AcmeError {
  if (err instanceof AcmeError) return err;
  const e = err as (Error & { code?: string }) | undefined;
  const code = e?.code ?? '';
  const cause = (e?.message ?? String(err)).replace(/\s+/g, ' ').trim();
  let hint = '';
  if (UNREACHABLE.has(code)) hint = '; is the ACME directory URL right, and can this host reach it?';
  else if (UNTRUSTED.test(code))
    hint = "; the CA's HTTPS certificate is not trusted: for a private or test CA, give its root with NODE_EXTRA_CA_CERTS=FILE";
  else if (phase === 'challenge' && !cause.startsWith('cannot listen')) {
    const port = settings.httpPort === 80 ? 'port 80 must be open to it' : `port 80 must reach --acme-http-port ${settings.httpPort}`;
    hint = `; the CA fetches http://${settings.hostname}/.well-known/acme-challenge/...: ${settings.hostname} must resolve to this server, and ${port}`;
  }
  const reason = phase === 'challenge' && cause.startsWith('cannot listen') ? cause : `${cause}${hint}`;
  return new AcmeError(`could not get a certificate for ${settings.hostname} from ${settings.directoryUrl}: ${reason}`, { cause: err });
}

/**
 * Finds the account of the client's key, or creates it. auto() would ask for a new
 * account each time and, for a key that has one, post an update with no change, which
 * some CAs (Pebble) refuse; asking for the existing one first is a POST-as-GET.
 */
async function findOrCreateAccount(client: Client, email: string | undefined): Promise<void> {
  try {
    await client.createAccount({ onlyReturnExisting: true });
  } catch {
    // No account for this key yet (a CA that cannot be reached fails here again, with its cause).
    // `--tls-acme` is the operator's agreement to the CA's terms of service (the README says so).
    await client.createAccount({ termsOfServiceAgreed: true, ...(email === undefined ? {} : { contact: [`mailto:${email}`] }) });
  }
}

/** Orders a certificate for `settings.hostname`; resolves with its chain and new key, or rejects with an {@link AcmeError}. */
export async function orderCertificate(
  settings: OrderSettings,
  store: AcmeStore,
  responder: Http01Responder,
): Promise<{ cert: string; key: string }> {
  // A CA that never answers is reported; acme-client's axios instance waits forever by default.
  if (!acmeAxios.defaults.timeout) acmeAxios.defaults.timeout = ACME_REQUEST_TIMEOUT_MS;
  reportUnansweredRequests();
  let phase: 'account' | 'challenge' | 'finalize' = 'account';
  try {
    const key = newPrivateKey();
    const [, csr] = await acmeCrypto.createCsr({ commonName: settings.hostname, altNames: [settings.hostname] }, key);
    // Polls for the challenge's and the order's status from 1 s on (the library's 5 s would slow every order).
    const client = new Client({
      directoryUrl: settings.directoryUrl,
      accountKey: store.accountKey(),
      backoffMin: 1000,
      backoffMax: 10_000,
    });
    await findOrCreateAccount(client, settings.email);
    // auto() calls finalizeOrder once every challenge is valid: from then on a failure is not the challenge's.
    const finalizeOrder = client.finalizeOrder.bind(client);
    client.finalizeOrder = (...args) => {
      phase = 'finalize';
      return finalizeOrder(...args);
    };
    const cert = await client.auto({
      csr,
      challengePriority: ['http-01'],
      // acme-client's own check fetches port 80 of the name from here, which a NAT or a
      // forwarded port can make fail while the CA succeeds: the CA's answer is the test.
      skipChallengeVerification: true,
      challengeCreateFn: async (_authz, challenge, keyAuthorization) => {
        phase = 'challenge';
        if (challenge.type !== 'http-01')
          throw new AcmeError(`the CA offers no HTTP-01 challenge for ${settings.hostname} (only ${challenge.type})`);
        await responder.add(challenge.token, keyAuthorization);
      },
      challengeRemoveFn: async (_authz, challenge) => responder.remove(challenge.token),
    });
    return { cert, key };
  } catch (err) {
    throw describe(err, phase, settings);
  } finally {
    await responder.close();
  }
}
