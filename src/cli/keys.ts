import { readFileSync } from 'node:fs';
import { keyProviderKey, parsePrivateKey, parsePublicKey, type DecryptionKey, type Recipient } from '../core/crypt';
import { OmlmdError } from '../core/errors';

/**
 * Keys for encrypted layers, as the CLI takes them: `--encrypt-recipient jwe:PUB.pem`
 * (skopeo's form; `jwe:` may be left out), `--decryption-key PRIV.pem` and the key files
 * named in OMLMD_DECRYPTION_KEYS (separated by `,`; a mounted key file for the KServe init
 * container). A passphrase-protected key opens with OMLMD_DECRYPTION_PASSPHRASE.
 * `provider:NAME[:PARAMETER]`, as a recipient or a decryption key, is an ocicrypt key provider
 * from the JSON file OCICRYPT_KEYPROVIDER_CONFIG names (what skopeo and podman read).
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

export function recipientsFrom(values: string[] | undefined, env: NodeJS.ProcessEnv = process.env): Recipient[] | undefined {
  if (!values?.length) return undefined;
  return values.map((v): Recipient => {
    const m = /^([a-z0-9]+):(.+)$/.exec(v);
    if (m && m[1] === 'provider') return keyProviderKey(v, env.OCICRYPT_KEYPROVIDER_CONFIG || undefined);
    if (m && m[1] !== 'jwe') {
      throw new OmlmdError('USAGE', `--encrypt-recipient ${v}: only JWE recipients (jwe:PUBLIC-KEY.pem) and key providers (provider:NAME) are supported, not ${m[1]}`);
    }
    const path = m ? m[2]! : v;
    return { key: parsePublicKey(readKeyFile(path, 'the public key'), path), source: path };
  });
}

export function decryptionKeysFrom(values: string[] | undefined, env: NodeJS.ProcessEnv = process.env): DecryptionKey[] | undefined {
  const paths = [...(values ?? []), ...(env.OMLMD_DECRYPTION_KEYS ?? '').split(',').map((s) => s.trim()).filter(Boolean)];
  if (!paths.length) return undefined;
  const passphrase = env.OMLMD_DECRYPTION_PASSPHRASE;
  return paths.map((p) => (p.startsWith('provider:') ? keyProviderKey(p, env.OCICRYPT_KEYPROVIDER_CONFIG || undefined) : parsePrivateKey(readKeyFile(p, 'the decryption key'), p, passphrase)));
}
