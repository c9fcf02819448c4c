/**
 * Bore's challenge-response authentication: key = SHA-256(secret), and the answer to
 * a challenge UUID is HMAC-SHA256(key, the UUID's 16 bytes) in lowercase hex.
 */
import { createHash, createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** Holds the key derived from a shared secret; never exposes the secret itself. */
export class Authenticator {
  readonly #key: Buffer;

  constructor(secret: string) {
    this.#key = createHash('sha256').update(secret, 'utf8').digest();
  }

  /** A fresh random challenge for a connecting client. */
  static challenge(): string {
    return randomUUID();
  }

  /** The tag a client sends to answer `challenge`. */
  answer(challenge: string): string {
    return this.#mac(challenge).toString('hex');
  }

  /** Whether `tag` answers `challenge`, compared in constant time. */
  validate(challenge: string, tag: string): boolean {
    if (!/^[0-9a-fA-F]{64}$/.test(tag)) return false;
    return timingSafeEqual(this.#mac(challenge), Buffer.from(tag, 'hex'));
  }

  #mac(challenge: string): Buffer {
    const bytes = Buffer.from(challenge.replace(/-/g, ''), 'hex');
    return createHmac('sha256', this.#key).update(bytes).digest();
  }

  /** Keeps the key out of logs and `util.inspect`. */
  toJSON(): string {
    return '[Authenticator]';
  }
}
