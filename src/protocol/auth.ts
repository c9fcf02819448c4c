/**
 * Bore's challenge-response authentication: key = SHA-256(secret), and the answer to
 * a challenge UUID is HMAC-SHA256(key, the UUID's 16 bytes) in lowercase hex. A server
 * may hold several secrets at once (during a rotation): an answer made with any of
 * them is valid.
 */
import { nodeCrypto, randomId } from './on-demand.js';

/** Holds the keys derived from shared secrets; never exposes a secret itself. */
export class Authenticator {
  /** The keys of the secrets, the current one (which answers challenges) first. */
  readonly #keys: Buffer[];

  /** `secret`: one secret, or several with the current one first (none may be empty in a list). */
  constructor(secret: string | readonly string[]) {
    const secrets = typeof secret === 'string' ? [secret] : secret;
    if (secrets.length === 0) throw new RangeError('an Authenticator needs at least one secret');
    this.#keys = secrets.map((s) => nodeCrypto().createHash('sha256').update(s, 'utf8').digest());
  }

  /** How many secrets are accepted. */
  get size(): number {
    return this.#keys.length;
  }

  /** A fresh random challenge for a connecting client. */
  static challenge(): string {
    return randomId();
  }

  /** The tag a client sends to answer `challenge`, made with the current secret. */
  answer(challenge: string): string {
    return mac(this.#keys[0]!, challenge).toString('hex');
  }

  /** Whether `tag` answers `challenge` with any of the secrets, each compared in constant time. */
  validate(challenge: string, tag: string): boolean {
    if (!/^[0-9a-fA-F]{64}$/.test(tag)) return false;
    const given = Buffer.from(tag, 'hex');
    return this.#keys.some((key) => nodeCrypto().timingSafeEqual(mac(key, challenge), given));
  }

  /** Keeps the key out of logs and `util.inspect`. */
  toJSON(): string {
    return '[Authenticator]';
  }
}

/** HMAC-SHA256 of a challenge UUID's 16 bytes under `key`. */
function mac(key: Buffer, challenge: string): Buffer {
  const bytes = Buffer.from(challenge.replace(/-/g, ''), 'hex');
  return nodeCrypto().createHmac('sha256', key).update(bytes).digest();
}
