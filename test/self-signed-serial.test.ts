/**
 * The self-signed certificate's serial (src/server/self-signed.ts): positive and minimally
 * encoded whatever the random bytes, so OpenSSL never refuses the certificate; one in 256
 * used to be refused with "illegal padding" when the first random octet came out zero.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { certificateSerial, makeSelfSigned } from '../src/server/self-signed.js';

test('a serial is positive and has no leading zero octet, whatever the random bytes', () => {
  for (const first of [0x00, 0x01, 0x3f, 0x40, 0x7f, 0x80, 0xff]) {
    for (const second of [0x00, 0x10, 0x7f, 0x80, 0xff]) {
      const bytes = Buffer.alloc(16, 0xaa);
      bytes[0] = first;
      bytes[1] = second;
      const serial = certificateSerial(bytes);
      assert.equal(serial.length, 16);
      assert.ok(serial[0]! >= 0x40 && serial[0]! <= 0x7f, `first octet ${serial[0]} for ${first}`);
      assert.deepEqual(serial.subarray(1), bytes.subarray(1), 'the other octets as drawn');
    }
  }
});

test('certificates made in a row all parse (the serial read back is the one drawn, minimal)', () => {
  for (let i = 0; i < 300; i++) {
    const { cert } = makeSelfSigned(['localhost']);
    const x509 = new X509Certificate(cert);
    assert.match(x509.serialNumber, /^[4-7][0-9A-F]{31}$/);
  }
});
