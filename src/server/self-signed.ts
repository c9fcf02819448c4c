/**
 * Making a self-signed certificate for the control port (`--tls-self-signed`): an ECDSA
 * P-256 key and an X.509 v3 certificate for the server's names, which clients pin by its
 * SHA-256 fingerprint (`--tls-fingerprint`) or trust as their `--tls-ca`.
 *
 * Node makes and signs with the key (`node:crypto`) but has no API to build a
 * certificate; the certificate's structure is built and DER-encoded with
 * `@peculiar/asn1-x509` (PeculiarVentures' ASN.1 schemas of RFC 5280, the layer under
 * their `@peculiar/x509`). Not `@peculiar/x509` itself: it needs a global
 * `reflect-metadata` polyfill (through tsyringe), which a library must not impose on the
 * process it runs in, and it signs only through WebCrypto, asynchronously. Not
 * `selfsigned`: it wraps `@peculiar/x509` and pkijs, the same and more. Making one takes
 * about 15 ms; loading the ASN.1 modules takes longer (some 200 ms, about as long as
 * winston), so this module is imported only when a certificate is to be made, on a
 * server's first start (`self-signed-store.ts`).
 */
import { nodeCrypto } from '../protocol/on-demand.js';
import { isIP } from 'node:net';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import type { ServerTlsOptions } from './tls.js';
import { isCertificateName } from './certificate-names.js';

/** How long a self-signed certificate is valid: ten years (a pin would break at each renewal). */
export const SELF_SIGNED_DAYS = 3650;

/** `ecdsa-with-SHA256` (RFC 5758). */
const ECDSA_SHA256 = '1.2.840.10045.4.3.2';
/** The attribute `commonName`. */
const COMMON_NAME = '2.5.4.3';
const DAY_MS = 86_400_000;

/** An extension holding `value` (DER-encoded). */
function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

/** `der` as a PEM block of `label`. */
function pem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * A new key and a self-signed certificate (PEM) for `names` (host names and IP addresses,
 * the first also its common name), valid from a minute before `now` for `days` days.
 * Throws a `RangeError` for a name that is neither.
 */
export function makeSelfSigned(names: readonly string[], days = SELF_SIGNED_DAYS, now = new Date()): ServerTlsOptions {
  const [first] = names;
  if (first === undefined) throw new RangeError('a self-signed certificate needs at least one name');
  for (const name of names) if (!isCertificateName(name)) throw new RangeError(`'${name}' is not a host name or an IP address`);
  const { generateKeyPairSync, randomBytes, sign } = nodeCrypto();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const algorithm = new AlgorithmIdentifier({ algorithm: ECDSA_SHA256 });
  const subject = new Name([
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type: COMMON_NAME, value: new AttributeValue({ utf8String: first }) })]),
  ]);
  const serialNumber = certificateSerial(randomBytes(16));
  const altNames = names.map((name) => new GeneralName(isIP(name) ? { iPAddress: name } : { dNSName: name }));
  const tbsCertificate = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(serialNumber).buffer,
    signature: algorithm,
    issuer: subject,
    subject,
    // A minute back: a client whose clock is a little behind accepts it at once.
    validity: new Validity({ notBefore: new Date(now.getTime() - 60_000), notAfter: new Date(now.getTime() + days * DAY_MS) }),
    subjectPublicKeyInfo: AsnConvert.parse(publicKey.export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    extensions: new Extensions([
      extension(id_ce_subjectAltName, false, new SubjectAlternativeName(altNames)),
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
    ]),
  });
  const tbs = Buffer.from(AsnConvert.serialize(tbsCertificate));
  const signatureValue = sign('sha256', tbs, privateKey);
  const der = Buffer.from(
    AsnConvert.serialize(
      new Certificate({ tbsCertificate, signatureAlgorithm: algorithm, signatureValue: new Uint8Array(signatureValue).buffer }),
    ),
  );
  return { cert: pem('CERTIFICATE', der), key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/**
 * A certificate serial from 16 random bytes: positive and minimally encoded (RFC 5280: at
 * most 20 octets, not negative; DER: no leading zero octet). The first octet is kept in
 * 0x40-0x7f: a top bit set would make it negative, and a zero first octet followed by one
 * below 0x80 is padding OpenSSL refuses ("illegal padding"), which 1 serial in 256 hit when
 * only the top bit was cleared. 126 random bits.
 */
export function certificateSerial(bytes: Buffer): Buffer {
  const serial = Buffer.from(bytes);
  serial[0] = ((serial[0] ?? 0) & 0x3f) | 0x40;
  return serial;
}
