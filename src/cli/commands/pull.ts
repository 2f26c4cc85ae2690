import { resolve } from 'node:path';
import { formatReference, parseReference } from '../../core/oci/reference';
import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import type { OmlmdClient } from '../../core/client';
import type { PullOptions, PullResult } from '../../core/transfer/pull';
import type { ModelVerification, TrustRoot } from '../../core/trust';
import { client, collect, concurrency, controller, example, print, withCommon, withProgress, type Common } from '../context';
import { decryptionKeysFrom } from '../keys';
import { humanSize } from '../output';
import { policyFrom, withPolicy } from './policy';

/** `omlmd pull`: an artifact's files into a directory, every digest verified. */
/**
 * core/trust's pullWithSignature, with the trust code (Sigstore, lineage) loaded only to
 * verify before the pull or, after it, to write the model.sig that the registry holds.
 */
async function pullWithSignature(c: OmlmdClient, target: string, out: string, opts: PullOptions & { trust?: TrustRoot }): Promise<PullResult & { reference: string; signature?: string; verified?: ModelVerification }> {
  if (opts.trust) return (await import('../../core/trust')).pullWithSignature(c, target, out, opts);
  const res = await c.pull(target, out, opts);
  const byDigest = { ...parseReference(target), digest: res.descriptor.digest };
  let signature: string | undefined;
  try {
    signature = await (await import('../../core/trust')).writeModelSignature(c, byDigest, out, opts);
  } catch (e) {
    // The files are there and verified against their digests; a registry that will not list referrers only means no model.sig.
    if (!OmlmdError.is(e)) throw e;
  }
  return { ...res, reference: formatReference(byDigest), ...(signature ? { signature } : {}) };
}

export function registerPull(program: Command): void {
  example(withPolicy(withCommon(program.command('pull'), true))
    .description('pull an artifact\'s files into a directory, verifying every digest')
    .argument('<target>', 'what to pull')
    .option('-o, --output <dir>', 'output directory', '.')
    .option('-m, --media-types <type>', 'only layers of this media type (repeatable)', collect)
    .option('-i, --include <glob>', 'only files matching this path glob (repeatable), e.g. "*.onnx"', collect)
    .option('-x, --exclude <glob>', 'leave out files matching this path glob (repeatable)', collect)
    .option('--no-unpack', 'write the folder tar of an omlmd 0.1.x directory push as a file instead of unpacking it')
    .option('--verify-key <pem>', 'pull only if the model\'s signature verifies with this public key (then by the verified digest)')
    .option('--verify-ca <pem>', 'pull only if the model\'s signature verifies with a certificate from this CA')
    .option('--cert-identity <id>', 'with --verify-ca: whom the signing certificate must name')
    .option('--decryption-key <key.pem>', 'private key for encrypted files, or provider:NAME[:PARAM] for an ocicrypt key provider (OCICRYPT_KEYPROVIDER_CONFIG) (repeatable; also OMLMD_DECRYPTION_KEYS, comma-separated; passphrase in OMLMD_DECRYPTION_PASSPHRASE)', collect)
    .action(async (target: string, o: Common & { output: string; mediaTypes?: string[]; include?: string[]; exclude?: string[]; unpack?: boolean; verifyKey?: string; verifyCa?: string; certIdentity?: string; policy?: string; decryptionKey?: string[] }) => {
      const c = client(o);
      const out = resolve(o.output);
      // Under a policy: verified first, then pulled by the digest that verified; a refusal writes nothing.
      const policy = await policyFrom(o);
      if (policy) {
        const { enforcePolicy } = await import('../../core/trust/policy');
        target = formatReference((await enforcePolicy(c, target, policy, { signal: controller.signal })).reference);
      }
      const trust = o.verifyKey || o.verifyCa || o.certIdentity ? await (await import('./trust')).trustFrom(o.verifyKey, o.verifyCa, o.certIdentity, { key: '--verify-key', ca: '--verify-ca' }) : undefined;
      // The signature, when the model has one, goes beside the files as model.sig (verify --path checks the folder against it).
      const res = await withProgress('pull', o, (onProgress) => pullWithSignature(c, target, out, {
        signal: controller.signal, onProgress, concurrency: concurrency(o), mediaTypes: o.mediaTypes, include: o.include, exclude: o.exclude, unpack: o.unpack, trust,
        decryptionKeys: decryptionKeysFrom(o.decryptionKey),
      }));
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, files: res.files, signature: res.signature ?? null, verified: res.verified ? { signer: res.verified.signer, signature: res.verified.signature.digest } : null }, null, 2));
      } else {
        print(`Pulled ${res.reference} into ${out}`);
        for (const f of res.files) print(`  ${f.title}${f.unpacked ? '/' : ''}  ${humanSize(f.size)}${f.existed ? '  (already there)' : ''}`);
        if (res.files.length === 0) print('  no file matched');
        if (res.verified) print(`  verified before the pull: signature ${res.verified.signature.digest}`);
        if (res.signature) print(`  model.sig  (the signature; check the folder later with omlmd verify --path)`);
      }
    }), 'omlmd pull localhost:5000/models/mnist:v1 -o ./model --include "*.onnx"');
}
