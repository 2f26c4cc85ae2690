import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { copyRecursive } from '../../core/lineage/api';
import { client, concurrency, controller, example, print, withCommon, withProgress, type Common } from '../context';
import { humanSize } from '../output';
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
    .option('-r, --recursive', 'also copy every artifact that refers to it (ModelCar images, model cards, SBOMs), recursively, keeping the graph')
    .action(async (source: string, destination: string, o: Common & { recursive?: boolean; policy?: string; format?: string }) => {
      if (o.format !== undefined && o.format !== 'omlmd' && o.format !== 'modelpack') throw new OmlmdError('USAGE', `--format takes modelpack or omlmd, not ${JSON.stringify(o.format)}`);
      if (o.format && o.recursive) throw new OmlmdError('USAGE', '--format rewrites the artifact, so what refers to it would refer to another digest: copy with --format alone');
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
      const res = await withProgress('copy', o, (onProgress) => c.copy(source, destination, { signal: controller.signal, onProgress, concurrency: concurrency(o), format: o.format as 'omlmd' | 'modelpack' | undefined }));
      if (o.json) print(JSON.stringify(res, null, 2));
      else print(`Copied ${source} to ${res.reference}\n  ${res.copied} blob${res.copied === 1 ? '' : 's'} sent (${humanSize(res.bytes)}), ${res.skipped} already there${res.mounted ? `, ${res.mounted} mounted from ${source.replace(/[:@][^/]*$/, '')}` : ''}`);
    }), 'omlmd copy localhost:5000/models/mnist:v1 oci:./mnist-layout:v1\n  omlmd copy --recursive localhost:5000/models/mnist:v1 registry.example.com/models/mnist:v1');
}
