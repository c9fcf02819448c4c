/**
 * The one list of field names whose values are never shown: the logger drops them
 * from every line, and the inspector from the snapshots it serves. Plain data, so the
 * inspector can use it without loading the logger.
 */

/**
 * Field names that can carry a secret (the secret itself, a password, an auth tag, a
 * key, a pool token: without a server secret it is what binds pooled connections).
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['secret', 'password', 'tag', 'key', 'token']);

/** Deletes from `fields` every field named in {@link SECRET_KEYS}, whatever a caller passed; returns `fields`. */
export function dropSecrets<T extends Record<string, unknown>>(fields: T): T {
  for (const key of Object.keys(fields)) if (SECRET_KEYS.has(key)) delete fields[key];
  return fields;
}
