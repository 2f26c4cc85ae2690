/**
 * Lineage commands: `attach`, `discover`, `detach` (OCI 1.1 referrers), `modelcar build` and
 * `modelcar base` (KServe ModelCar images), `model-card` (the pipeline's card, by hand) and
 * `storage-initializer` (KServe's ClusterStorageContainer entrypoint).
 */
import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { attach, attachModelCard, detach, discover, generateModelCard, modelCarBase, storageInitializer, type ReferrerNode } from '../../core/lineage';
import { flattenReferrers } from '../../core/lineage/discover';
import { formatReference, parseReference, refOf } from '../../core/oci/reference';
import type { Platform } from '../../core/oci/types';
import { fetchImageManifest } from '../../core/transfer/resolve';
import { BUNDLE_MEDIA_TYPE, describeSignature, modelCarWithProvenance, type SignatureListing } from '../../core/trust';
import { client, collect, concurrency, controller, example, parseAnnotation, print, version, warn, withCommon, withProgress, type Common } from '../context';
import { decryptionKeysFrom, recipientsFrom } from '../keys';
import { policyFrom, signerFrom, trustFrom, withPolicy } from './trust';
import { enforcePolicy } from '../../core/trust/policy';
import { parseStorageUri, STORAGE_URI_PREFIXES } from '../../core/lineage/storage';
import { humanSize } from '../output';

/** `1 model file`, `2 model files`: "1 model file(s)" read as a form, not a sentence. */
function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

function annotations(list: string[] | undefined): Record<string, string> | undefined {
  return list?.length ? Object.fromEntries(list.map(parseAnnotation)) : undefined;
}

/** What the signatures and attestations among the referrers claim (predicate type, signer), by digest. */
const signatures = new Map<string, SignatureListing>();

function describeNode(n: ReferrerNode): string {
  const ann = n.annotations ?? {};
  const sig = signatures.get(n.digest);
  const predicate = sig?.predicateType ?? ann['dev.sigstore.bundle.predicateType'];
  const extra = [predicate ? `predicate ${predicate}` : undefined, sig?.signer ? `signed by ${sig.signer}` : undefined, sig?.problem ? `unreadable: ${sig.problem}` : undefined,
    ann['org.opencontainers.image.created'], ann['dev.omlmd.model.name'], ann['org.opencontainers.image.base.name'] ? `base ${ann['org.opencontainers.image.base.name']}` : undefined].filter(Boolean).join(', ');
  return `${n.artifactType ?? n.mediaType}  ${n.digest}${extra ? `  (${extra})` : ''}`;
}

/** `├── ` / `└── ` lines, as `tree` and `oras discover` draw them. */
export function drawTree(nodes: ReferrerNode[], prefix = ''): string[] {
  const lines: string[] = [];
  nodes.forEach((n, i) => {
    const last = i === nodes.length - 1;
    lines.push(`${prefix}${last ? '└── ' : '├── '}${describeNode(n)}`);
    lines.push(...drawTree(n.referrers, `${prefix}${last ? '    ' : '│   '}`));
  });
  return lines;
}

function toJson(n: ReferrerNode): Record<string, unknown> {
  const sig = signatures.get(n.digest);
  return { digest: n.digest, mediaType: n.mediaType, size: n.size, artifactType: n.artifactType, annotations: n.annotations ?? {}, ...(sig ? { predicateType: sig.predicateType, signer: sig.signer ?? null } : {}), referrers: n.referrers.map(toJson) };
}

export function registerLineage(program: Command): void {
  example(withCommon(program.command('attach'), true)
    .description('attach files (a model card, an evaluation report, an SBOM) to an artifact: they are pushed as an artifact whose subject is it, in its repository')
    .argument('<subject>', 'the artifact to attach to: HOST/REPO:TAG, HOST/REPO@DIGEST, oci:PATH:TAG or REPO:TAG')
    .argument('<files...>', 'files or folders')
    .option('--artifact-type <type>', 'the attachment\'s artifactType (default application/vnd.omlmd.attachment.v1)')
    .option('-a, --annotation <key=value>', 'a manifest annotation (repeatable)', collect)
    .option('--tag <tag>', 'also tag the attachment (default: by digest only)')
    .action(async (subject: string, files: string[], o: Common & { artifactType?: string; annotation?: string[]; tag?: string }) => {
      const c = client(o);
      const res = await withProgress('attach', o, (onProgress) => attach(c, subject, files, {
        artifactType: o.artifactType, annotations: annotations(o.annotation), tag: o.tag, signal: controller.signal, onProgress, concurrency: concurrency(o),
      }));
      if (o.json) print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, artifactType: res.manifest.artifactType, subject: res.subject, source: res.source, files: res.manifest.layers.map((l) => ({ title: l.annotations?.['org.opencontainers.image.title'], mediaType: l.mediaType, size: l.size, digest: l.digest })) }, null, 2));
      else print(`Attached ${res.manifest.layers.length} file${res.manifest.layers.length === 1 ? '' : 's'} to ${subject}\n  ${res.reference}\n  artifactType ${res.manifest.artifactType}; listed ${res.source === 'api' ? 'by the registry\'s referrers API' : `in the referrers tag sha256-${res.subject.digest.slice(7, 19)}…`}`);
    }), 'omlmd attach localhost:5000/models/mnist:v1 sbom.spdx.json --artifact-type application/spdx+json');

  example(withCommon(program.command('discover'))
    .description('list the artifacts that refer to an artifact (its referrers: ModelCar images, model cards, SBOMs, signatures)')
    .argument('<subject>')
    .option('--artifact-type <type>', 'only referrers of this type')
    .option('--tree', 'also the referrers of the referrers, as a tree')
    .option('--depth <n>', 'with --tree: how many levels (default 16)')
    .action(async (subject: string, o: Common & { artifactType?: string; tree?: boolean; depth?: string }) => {
      const depth = o.tree ? (o.depth === undefined ? 16 : Number(o.depth)) : 1;
      if (!Number.isInteger(depth) || depth < 1) throw new OmlmdError('USAGE', `--depth takes a whole number ≥ 1, got ${o.depth}`);
      const c = client(o);
      const res = await discover(c, subject, { artifactType: o.artifactType, depth, signal: controller.signal });
      // Signatures and attestations: what each bundle says it is and who signed it (read, not verified: omlmd verify does that).
      for (const n of flattenReferrers(res.referrers)) {
        if (n.artifactType === BUNDLE_MEDIA_TYPE) signatures.set(n.digest, await describeSignature(c, res.reference, n, { signal: controller.signal }));
      }
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, subject: res.subject, source: res.source, referrers: res.referrers.map(toJson) }, null, 2));
        return;
      }
      if (!o.tree) {
        if (res.referrers.length === 0) print(`No referrers of ${res.reference}${o.artifactType ? ` of type ${o.artifactType}` : ''}`);
        for (const n of res.referrers) print(describeNode(n));
        return;
      }
      print([res.reference, ...drawTree(res.referrers)].join('\n'));
    }), 'omlmd discover localhost:5000/models/mnist:v1 --tree');

  example(withCommon(program.command('detach'))
    .description('delete an attached artifact (a referrer) and remove it from its subject\'s referrers list')
    .argument('<referrer>', 'HOST/REPO@DIGEST of the referrer (from omlmd discover)')
    .action(async (target: string, o: Common) => {
      const res = await detach(client(o), target, { signal: controller.signal });
      if (o.json) print(JSON.stringify(res));
      else print(`Deleted ${res.reference}${res.subject ? ` (it referred to ${res.subject})` : ''}`);
    }), 'omlmd detach localhost:5000/models/mnist@sha256:...');

  const mc = program.command('modelcar').description('KServe ModelCar images: the model under /models in a runnable image, built without a container engine');
  example(withCommon(mc.command('build'), true)
    .description('build a ModelCar image of a model: the base image\'s layers plus the model files under /models; its subject is the model, so discover on the model lists it')
    .argument('<model>', 'the model artifact')
    .argument('<image>', 'where to store the image: HOST/REPO:TAG (same repository as the model to discover it there), oci:PATH:TAG, or REPO:TAG')
    .option('--base <image>', 'the base image (needs sh, ln, sleep); default a minimal base from Debian\'s busybox-static (/bin/busybox, or OMLMD_BUSYBOX)')
    .option('--data-only', 'no base: only the model files under /models and no entrypoint, an image Kubernetes mounts as an image volume (KEP-4639) and KServe\'s oci+native:// reads; it is mounted, not run')
    .option('--platform <os/arch>', 'the platform to pick from a multi-platform base, or a data-only image\'s (default this machine\'s)')
    .option('--busybox <path>', 'a statically linked busybox for the minimal base')
    .option('-a, --annotation <key=value>', 'an extra manifest annotation (repeatable)', collect)
    .option('--verify-key <pem>', 'build only from a model whose signature verifies with this public key (then by the verified digest)')
    .option('--verify-ca <pem>', 'build only from a model signed with a certificate from this CA')
    .option('--cert-identity <id>', 'with --verify-ca: whom the model\'s signing certificate must name')
    .option('--sign-key <pem>', 'sign the image\'s SLSA provenance with this key (without it the provenance is attached unsigned)')
    .option('--sign-cert <pem>', 'with --sign-key: sign with this X.509 signing certificate')
    .option('--sign-chain <pem>', 'with --sign-cert: the certificates it chains up to')
    .option('--passphrase-stdin', 'read the signing key\'s passphrase from standard input (else OMLMD_SIGNING_PASSPHRASE)')
    .option('--decryption-key <key.pem>', 'private key for an encrypted model, whose files are decrypted into the image (repeatable; also OMLMD_DECRYPTION_KEYS)', collect)
    .option('--encrypt-recipient <jwe:pub.pem>', 'encrypt the image\'s layers for this recipient, as skopeo copy --encryption-key does (repeatable); podman pull --decryption-key, CRI-O and Confidential Containers decrypt it', collect)
    .action(async (model: string, image: string, o: Common & { base?: string; dataOnly?: boolean; platform?: string; busybox?: string; annotation?: string[]; verifyKey?: string; verifyCa?: string; certIdentity?: string; signKey?: string; signCert?: string; signChain?: string; passphraseStdin?: boolean; decryptionKey?: string[]; encryptRecipient?: string[] }) => {
      let platform: Platform | undefined;
      if (o.platform) {
        const [os, architecture, variant] = o.platform.split('/');
        if (!os || !architecture) throw new OmlmdError('USAGE', `--platform takes OS/ARCH[/VARIANT], got ${o.platform}`);
        platform = { os, architecture, ...(variant ? { variant } : {}) };
      }
      if ((o.signCert || o.signChain) && !o.signKey) throw new OmlmdError('USAGE', '--sign-cert and --sign-chain go with --sign-key');
      const trust = o.verifyKey || o.verifyCa || o.certIdentity ? await trustFrom(o.verifyKey, o.verifyCa, o.certIdentity, { key: '--verify-key', ca: '--verify-ca' }) : undefined;
      const signer = o.signKey ? await signerFrom(o.signKey, o.signCert, o.signChain, o) : undefined;
      const c = client(o);
      const res = await withProgress('modelcar', o, (onProgress) => modelCarWithProvenance(c, model, image, {
        base: o.base, dataOnly: o.dataOnly, platform, busybox: o.busybox, annotations: annotations(o.annotation), signal: controller.signal, onProgress, concurrency: concurrency(o),
        verify: trust, signer, builderVersion: version, decryptionKeys: decryptionKeysFrom(o.decryptionKey), encryptFor: recipientsFrom(o.encryptRecipient),
      }));
      if (!res.sameRepository) warn(`the image is not in the model's repository: discover on the model there will not list it (discover ${formatReference({ ...parseReference(image), tag: undefined, digest: res.subject.digest })} will)`);
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, subject: res.subject, platform: res.platform, base: res.baseName, root: res.root ?? null, layers: res.layers, source: res.source,
          model: { reference: res.model.reference, digest: res.model.digest, verified: res.model.verified ? { signer: res.model.verified.signer, signature: res.model.verified.signature.digest } : null },
          provenance: res.provenance }, null, 2));
        return;
      }
      const bytes = res.layers.reduce((n, l) => n + l.size, 0);
      const lines = [`Built ${res.reference}`, `  ${res.platform.os}/${res.platform.architecture} on ${res.baseName}; ${count(res.layers.reduce((n, l) => n + l.files.length, 0), 'model file')} under /models in ${count(res.layers.length, 'layer')} (${humanSize(bytes)})${res.root !== undefined ? `; the folder ${res.root}/ is /models itself` : ''}`, `  subject ${res.subject.digest}`];
      if (o.encryptRecipient?.length) lines.push(`  layers encrypted for ${count(o.encryptRecipient.length, 'recipient')} (ocicrypt, as skopeo writes them)`);
      if (res.model.verified) lines.push(`  model verified first: signature ${res.model.verified.signature.digest}`);
      lines.push(`  provenance (SLSA v1) ${res.provenance.digest}${res.provenance.signed ? `, signed by ${res.provenance.signer}` : ', unsigned'}`);
      if (parseReference(image).kind === 'registry') lines.push(o.dataOnly ? `  Kubernetes: volumes: [{ name: model, image: { reference: ${res.reference} } }] (KServe: storageUri: oci+native://${res.reference})` : `  KServe: storageUri: oci://${res.reference}`);
      print(lines.join('\n'));
    }), 'omlmd modelcar build localhost:5000/models/mnist:v1 localhost:5000/models/mnist:v1-modelcar');

  example(withCommon(mc.command('base'))
    .description('push the minimal busybox-static base alone, as a runnable image (to reuse as --base, or to look at)')
    .argument('<image>', 'HOST/REPO:TAG, oci:PATH:TAG or REPO:TAG')
    .option('--busybox <path>', 'a statically linked busybox (default OMLMD_BUSYBOX, else /bin/busybox)')
    .action(async (image: string, o: Common & { busybox?: string }) => {
      const res = await modelCarBase(client(o), image, { busybox: o.busybox, signal: controller.signal });
      print(o.json ? JSON.stringify(res) : `Pushed ${res.reference}`);
    }), 'omlmd modelcar base localhost:5000/base/busybox:1');

  example(withCommon(program.command('model-card'))
    .description('generate a model card (Markdown) from a model\'s metadata and files; print it, write it, or attach it to the model')
    .argument('<model>')
    .option('-o, --output <file>', 'write it to this file')
    .option('--attach', 'attach it to the model (artifactType application/vnd.omlmd.model-card.v1)')
    .action(async (model: string, o: Common & { output?: string; attach?: boolean }) => {
      const c = client(o);
      if (o.attach) {
        const res = await attachModelCard(c, model, { signal: controller.signal });
        print(o.json ? JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, source: res.source }) : `Attached a model card to ${model}\n  ${res.reference}`);
        return;
      }
      const ref = parseReference(model);
      const repo = await c.repository(ref);
      const { fetched } = await fetchImageManifest(repo, refOf(ref), { signal: controller.signal });
      const info = await c.inspect(ref, { signal: controller.signal });
      const card = generateModelCard({ reference: formatReference({ ...ref, tag: undefined, digest: undefined }), digest: fetched.descriptor.digest, manifest: fetched.manifest, metadata: info.metadata });
      if (o.output) {
        await writeFile(resolve(o.output), card);
        print(`Wrote ${o.output}`);
      } else process.stdout.write(card);
    }), 'omlmd model-card localhost:5000/models/mnist:v1 --attach');

  example(withPolicy(withCommon(program.command('storage-initializer'), true))
    .description('KServe storage initializer (ClusterStorageContainer entrypoint): pull a model\'s files into DEST_PATH. Credentials: OMLMD_REGISTRY_* variables or a mounted Docker config (DOCKER_CONFIG)')
    .argument('<src-uri>', 'oci-artifact://HOST/REPO:TAG or oci://HOST/REPO[:TAG|@DIGEST]')
    .argument('<dest-path>', 'where the model files go (KServe passes /mnt/models)')
    .option('--with-metadata', 'also write the metadata files (also OMLMD_WITH_METADATA=1)')
    .option('--decryption-key <key.pem>', 'private key for an encrypted model (repeatable; also OMLMD_DECRYPTION_KEYS, comma-separated files, e.g. a mounted secret)', collect)
    .action(async (uri: string, dest: string, o: Common & { withMetadata?: boolean; policy?: string; decryptionKey?: string[] }) => {
      const withMetadata = o.withMetadata ?? ['1', 'true', 'yes'].includes((process.env.OMLMD_WITH_METADATA ?? '').toLowerCase());
      const plain = ['1', 'true', 'yes'].includes((process.env.OMLMD_PLAIN_HTTP ?? '').toLowerCase());
      const c = client({ ...o, plainHttp: o.plainHttp ?? (plain || undefined) });
      const out = resolve(dest);
      // Under a policy (--policy or OMLMD_POLICY, e.g. mounted from a ConfigMap): verified first, served by the verified digest; a refusal leaves DEST_PATH as it was.
      const policy = await policyFrom(o);
      if (policy) {
        const prefix = STORAGE_URI_PREFIXES.find((p) => uri.startsWith(p))!;
        const decision = await enforcePolicy(c, parseStorageUri(uri), policy, { signal: controller.signal });
        uri = `${prefix}${formatReference(decision.reference)}`;
      }
      const res = await storageInitializer(c, uri, out, { withMetadata, decryptionKeys: decryptionKeysFrom(o.decryptionKey), signal: controller.signal, concurrency: concurrency(o) });
      if (o.json) print(JSON.stringify({ reference: res.reference, root: res.root ?? null, files: res.files }, null, 2));
      else print(`Pulled ${res.reference} into ${out}: ${res.files.map((f) => f.title).join(', ') || 'no files'}`);
    }), 'omlmd storage-initializer oci-artifact://quay.io/org/mnist:v1 /mnt/models');
}
