import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { OmlmdError, toOmlmdError } from '../../core/errors';
import { parsePrivateKey } from '../../core/crypt/jwe';

/**
 * The private keys in `omlmd.decryptionKeys` (PEM files), for pulling encrypted models: read
 * when a pull needs them, never at activation. A passphrase-protected key asks for its
 * passphrase (`ask`); a key the user does not unlock is left out.
 */
export async function decryptionKeysFor(paths: string[], ask: (path: string) => Promise<string | undefined>): Promise<KeyObject[] | undefined> {
  if (!paths.length) return undefined;
  const keys: KeyObject[] = [];
  for (const path of paths) {
    let pem: Buffer;
    try {
      pem = await readFile(path);
    } catch (e) {
      throw toOmlmdError(e, `cannot read the decryption key ${path}`);
    }
    let passphrase: string | undefined;
    if (pem.includes('ENCRYPTED')) {
      passphrase = await ask(path);
      if (passphrase === undefined) continue;
    }
    keys.push(parsePrivateKey(pem, path, passphrase));
  }
  if (!keys.length) throw new OmlmdError('CANCELLED', 'no decryption key was unlocked');
  return keys;
}
