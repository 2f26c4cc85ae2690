import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { CIPHER_AES_256_CTR_HMAC_SHA256, counterAt, DecryptStream } from '../../src/core/crypt/layer';

const key = randomBytes(32);
const options = (nonce: Buffer) => ({
  pub: { cipher: CIPHER_AES_256_CTR_HMAC_SHA256, hmac: Buffer.alloc(32).toString('base64'), cipheroptions: {} },
  priv: { symkey: key.toString('base64'), digest: 'sha256:' + '0'.repeat(64), cipheroptions: { nonce: nonce.toString('base64') } },
});

test('advanceKeystream(n) deciphers what follows a prefix exactly as deciphering the prefix did, at block edges and across a counter carry', () => {
  const plain = randomBytes(3 * 1024 * 1024 + 37);
  // A nonce whose low bytes are all 0xff: the counter carries into the upper bytes at once.
  for (const nonce of [randomBytes(16), Buffer.concat([randomBytes(8), Buffer.alloc(8, 0xff)]), Buffer.alloc(16, 0xff)]) {
    const c = createCipheriv('aes-256-ctr', key, nonce);
    const cipher = Buffer.concat([c.update(plain), c.final()]);
    for (const n of [0, 1, 15, 16, 17, 4096, 1024 * 1024 + 5, plain.length - 1]) {
      const { pub, priv } = options(nonce);
      const d = new DecryptStream(pub, priv, 'the test layer', false, false);
      d.advanceKeystream(n);
      assert.ok(d.update(cipher.subarray(n)).equals(plain.subarray(n)), `nonce ${nonce.toString('hex')}, prefix ${n}`);
    }
  }
});

test('counterAt adds block numbers to the 128-bit counter, big-endian, wrapping at 2^128', () => {
  const hex = (s: string) => Buffer.from(s, 'hex');
  assert.equal(counterAt(hex('00000000000000000000000000000000'), 1).toString('hex'), '00000000000000000000000000000001');
  assert.equal(counterAt(hex('000000000000000000000000000000ff'), 1).toString('hex'), '00000000000000000000000000000100');
  assert.equal(counterAt(hex('0000000000000000ffffffffffffffff'), 2).toString('hex'), '00000000000000010000000000000001');
  assert.equal(counterAt(hex('ffffffffffffffffffffffffffffffff'), 1).toString('hex'), '00000000000000000000000000000000');
  assert.equal(counterAt(hex('0102030405060708090a0b0c0d0e0f10'), 0x1_0000_0000).toString('hex'), '0102030405060708090a0b0d0d0e0f10');
});
