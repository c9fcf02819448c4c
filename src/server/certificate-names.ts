/** The names a certificate may carry (subjectAltName): host names and IP addresses. */
import { isIP } from 'node:net';

/** A host name: letters, digits, hyphens (underscores) and dots; a leading `*.` for a wildcard. */
const HOST_NAME = /^(\*\.)?[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$/i;

/** Whether `name` can go in a certificate: an IP address or a host name. */
export function isCertificateName(name: string): boolean {
  return isIP(name) !== 0 || (name.length <= 253 && HOST_NAME.test(name));
}
