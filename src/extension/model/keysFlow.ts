import { readFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import { OmlmdError, toOmlmdError } from '../../core/errors';
import { parsePrivateKey, parsePublicKey } from '../../core/crypt/jwe';
import { keyProviderKey } from '../../core/crypt/keyprovider';
import type { Recipient } from '../../core/crypt';
import { l10n } from './l10n';

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
      throw toOmlmdError(e, l10n.t('cannot read the decryption key {0}', path));
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

/**
 * The recipients in `omlmd.push.encryptRecipients` (`jwe:/path/pub.pem`, a bare path, or
 * `provider:NAME[:PARAM]` from the file OCICRYPT_KEYPROVIDER_CONFIG names), read when a push
 * starts. An entry that cannot be used fails the push before anything is sent, naming the
 * entry; an empty setting is no encryption (undefined).
 */
export async function encryptionRecipientsFor(entries: string[], env: NodeJS.ProcessEnv = process.env): Promise<Recipient[] | undefined> {
  if (!entries.length) return undefined;
  const out: Recipient[] = [];
  for (const entry of entries) {
    const remedies = [{ kind: 'check-encryption-recipient' as const, recipient: entry }];
    try {
      const m = /^([a-z0-9]+):(.+)$/.exec(entry);
      if (m && m[1] === 'provider') {
        out.push(keyProviderKey(entry, env.OCICRYPT_KEYPROVIDER_CONFIG || undefined));
        continue;
      }
      if (m && m[1] !== 'jwe') throw new OmlmdError('USAGE', l10n.t('{0}: only JWE recipients (jwe:PUBLIC-KEY.pem) and key providers (provider:NAME) can encrypt, not {1}', entry, m[1]!));
      const path = m ? m[2]! : entry;
      let pem: Buffer;
      try {
        pem = await readFile(path);
      } catch (e) {
        throw toOmlmdError(e, l10n.t("cannot read the recipient's public key {0}", path));
      }
      out.push({ key: parsePublicKey(pem, path), source: path });
    } catch (e) {
      const err = toOmlmdError(e, l10n.t('cannot use the recipient {0}', entry));
      throw err.with({ remedies });
    }
  }
  return out;
}
