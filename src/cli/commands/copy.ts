import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { copyRecursive } from '../../core/lineage/api';
import { client, collect, concurrency, controller, example, print, withCommon, withProgress, type Common } from '../context';
import { humanSize } from '../output';
import { decryptionKeysFrom, recipientsFrom } from '../keys';
import { formatReference, parseReference } from '../../core/oci/reference';
import { checkRegistryAllowed, enforcePolicy } from '../../core/trust/policy';
import { policyFrom, withPolicy } from './trust';

/** `omlmd copy`: an artifact (and, recursively, what refers to it) between registries, layouts and the local store. */
export function registerCopy(program: Command): void {
  example(withPolicy(withCommon(program.command('copy'), true))
    .alias('cp')
    .description('copy an artifact between registries, OCI layouts and the local store; the digest is kept and only missing blobs move')
    .argument('<source>')
    .argument('<destination>', 'a tag, or no tag to keep the source\'s')
    .option('--format <layout>', 'rewrite it in this layout: modelpack (CNCF ModelPack) or omlmd (omlmd 0.1.x\'s); the files keep their blobs, so within one registry no file byte moves (a new manifest digest)')
    .option('--decryption-key <key.pem>', 'decrypt the encrypted layers on their way (skopeo copy --decryption-key): the copy holds the plaintext and has a new digest; private key, or provider:NAME[:PARAM] for an ocicrypt key provider (repeatable; with the flag, the files of OMLMD_DECRYPTION_KEYS are tried too). Without it, ciphertext moves untouched, digests kept', collect)
    .option('--encrypt-recipient <jwe:pub.pem>', 'encrypt the layers in clear on their way for this recipient (skopeo copy --encryption-key): a model\'s files as push --encrypt-recipient does (its metadata stays in clear), an image\'s layers as skopeo does; jwe:PUB.pem or provider:NAME[:PARAM] (repeatable)', collect)
    .option('-r, --recursive', 'also copy every artifact that refers to it (ModelCar images, model cards, SBOMs), recursively, keeping the graph')
    .action(async (source: string, destination: string, o: Common & { recursive?: boolean; policy?: string; format?: string; decryptionKey?: string[]; encryptRecipient?: string[] }) => {
      if (o.format !== undefined && o.format !== 'omlmd' && o.format !== 'modelpack') throw new OmlmdError('USAGE', `--format takes modelpack or omlmd, not ${JSON.stringify(o.format)}`);
      if (o.format && o.recursive) throw new OmlmdError('USAGE', '--format rewrites the artifact, so what refers to it would refer to another digest: copy with --format alone');
      // Only the flag decrypts a copy: OMLMD_DECRYPTION_KEYS alone must not turn a copy that
      // keeps digests into one that changes them.
      const decryptionKeys = o.decryptionKey?.length ? decryptionKeysFrom(o.decryptionKey) : undefined;
      const encryptFor = recipientsFrom(o.encryptRecipient);
      if (decryptionKeys && encryptFor) throw new OmlmdError('USAGE', '--decryption-key and --encrypt-recipient in one copy: decrypt into one copy, then copy that with --encrypt-recipient');
      if (encryptFor && (o.recursive || o.format)) throw new OmlmdError('USAGE', `--encrypt-recipient gives the artifact a new digest, so it goes without ${o.recursive ? '--recursive' : '--format'}`);
      if (decryptionKeys && o.recursive) throw new OmlmdError('USAGE', '--decryption-key gives the artifact a new digest, so what refers to it would refer to the encrypted one: copy with --decryption-key alone');
      const c = client(o);
      const policy = await policyFrom(o);
      if (policy) {
        // The destination's registry must be allowed too; the source is verified and copied by the digest that verified.
        checkRegistryAllowed(policy, parseReference(destination));
        const decision = await enforcePolicy(c, source, policy, { signal: controller.signal });
        source = formatReference(decision.reference);
      }
      if (o.recursive) {
        const res = await withProgress('copy', o, (onProgress) => copyRecursive(c, source, destination, { signal: controller.signal, onProgress, concurrency: concurrency(o) }));
        if (o.json) print(JSON.stringify(res, null, 2));
        else print(`Copied ${source} and ${res.referrers.length} referrer${res.referrers.length === 1 ? '' : 's'} to ${res.reference}\n  ${res.copied} blob${res.copied === 1 ? '' : 's'} sent (${humanSize(res.bytes)}), ${res.skipped} already there`);
        return;
      }
      const res = await withProgress('copy', o, (onProgress) => c.copy(source, destination, { signal: controller.signal, onProgress, concurrency: concurrency(o), format: o.format as 'omlmd' | 'modelpack' | undefined, decryptionKeys, encryptFor }));
      if (o.json) print(JSON.stringify(res, null, 2));
      else print(`Copied ${source} to ${res.reference}\n  ${res.copied} blob${res.copied === 1 ? '' : 's'} sent (${humanSize(res.bytes)}), ${res.skipped} already there${res.mounted ? `, ${res.mounted} mounted from ${source.replace(/[:@][^/]*$/, '')}` : ''}${res.decrypted !== undefined ? `\n  ${res.decrypted} encrypted layer${res.decrypted === 1 ? '' : 's'} in clear: a new digest, so signatures of the encrypted artifact do not cover it` : ''}${res.encrypted !== undefined ? `\n  ${res.encrypted} layer${res.encrypted === 1 ? '' : 's'} encrypted for ${encryptFor!.length} recipient${encryptFor!.length === 1 ? '' : 's'}: a new digest, fresh keys on every copy` : ''}`);
    }), 'omlmd copy localhost:5000/models/mnist:v1 oci:./mnist-layout:v1\n  omlmd copy --recursive localhost:5000/models/mnist:v1 registry.example.com/models/mnist:v1');
}
