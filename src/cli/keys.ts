import type { KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parsePrivateKey, parsePublicKey, type Recipient } from '../core/crypt';
import { OmlmdError } from '../core/errors';

/**
 * Keys for encrypted layers, as the CLI takes them: `--encrypt-recipient jwe:PUB.pem`
 * (skopeo's form; `jwe:` may be left out), `--decryption-key PRIV.pem` and the key files
 * named in OMLMD_DECRYPTION_KEYS (separated by `,`; a mounted key file for the KServe init
 * container). A passphrase-protected key opens with OMLMD_DECRYPTION_PASSPHRASE.
 */
function readKeyFile(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new OmlmdError('USAGE', `cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      remedies: [{ kind: 'check-file', path, setting: 'file' }],
    });
  }
}

export function recipientsFrom(values: string[] | undefined): Recipient[] | undefined {
  if (!values?.length) return undefined;
  return values.map((v) => {
    const m = /^([a-z0-9]+):(.+)$/.exec(v);
    if (m && m[1] !== 'jwe') {
      throw new OmlmdError('USAGE', `--encrypt-recipient ${v}: only JWE recipients (jwe:PUBLIC-KEY.pem) are supported, not ${m[1]}`);
    }
    const path = m ? m[2]! : v;
    return { key: parsePublicKey(readKeyFile(path, 'the public key'), path), source: path };
  });
}

export function decryptionKeysFrom(values: string[] | undefined, env: NodeJS.ProcessEnv = process.env): KeyObject[] | undefined {
  const paths = [...(values ?? []), ...(env.OMLMD_DECRYPTION_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
  if (!paths.length) return undefined;
  const passphrase = env.OMLMD_DECRYPTION_PASSPHRASE;
  return paths.map((p) => parsePrivateKey(readKeyFile(p, 'the decryption key'), p, passphrase));
}
