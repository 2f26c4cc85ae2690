import { extname } from 'node:path';
import { Option, type Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { formatReference, parseReference } from '../../core/oci/reference';
import type { ModelMetadata } from '../../core/model/fields';
import { collectModelFiles } from '../../core/model/files';
import { MODEL_FILE_EXTENSIONS, inspectModelFile, prefillMetadata, suggestMetadata, type HeaderSummary } from '../../core/model/headers';
import { validateMetadata } from '../../core/model/metadata';
import { client, collect, concurrency, controller, example, metadataFromOptions, parseAnnotation, print, withCommon, withProgress, type PushOpts } from '../context';
import { recipientsFrom } from '../keys';
import { humanSize } from '../output';

/** `omlmd push`: model files and folders with their metadata as one OCI artifact. */
export function registerPush(program: Command): void {
  example(withCommon(program.command('push'), true)
    .description('push model files (or folders) with their metadata as an OCI artifact')
    .argument('<target>', 'where to push: HOST/REPO:TAG, oci:PATH:TAG, or REPO:TAG (local store)')
    .argument('[path...]', 'model files or folders (none: a metadata-only artifact; set --uri)')
    .option('-m, --metadata <file>', 'metadata file, YAML or JSON')
    .option('--empty-metadata', 'push with empty metadata')
    .option('--name <name>', 'model name')
    .option('--description <text>', 'model description')
    .option('--author <author>', 'model author')
    .option('--uri <uri>', 'where the model lives, for a metadata-only artifact (s3://, hf://, https://)')
    .option('--model-format-name <format>', 'model format, e.g. onnx, sklearn, pytorch, gguf')
    .option('--model-format-version <version>', 'model format version')
    .option('-p, --property <key=value>', 'a customProperties entry (repeatable); numbers and booleans keep their type', collect)
    .option('-a, --annotation <key=value>', 'an extra manifest annotation (repeatable)', collect)
    .option('--no-artifact-type', 'write no artifactType, exactly as omlmd 0.1.x')
    .option('--encrypt-recipient <jwe:pubkey.pem>', 'encrypt the model files for this RSA or EC public key, in the ocicrypt format skopeo and podman read (repeatable: each recipient alone can decrypt), or for provider:NAME[:PARAM], an ocicrypt key provider from the file OCICRYPT_KEYPROVIDER_CONFIG names; the metadata stays readable', collect)
    .option('--encrypt-metadata', 'with --encrypt-recipient: encrypt the metadata layers too; the config is then empty and the metadata is not copied into the annotations, so search and inspect without the key see only the --annotation values', false)
    .option('--format <layout>', 'the artifact layout: omlmd (omlmd 0.1.x\'s, the default) or modelpack (CNCF ModelPack v1, read by KitOps, modctl, Docker and Harbor)', 'omlmd')
    .option('--mountable', 'also build a data-only image of the files and tag an image index holding both: containerd, CRI-O, podman and KServe (oci+native://) take the image, omlmd, modctl and KitOps the model')
    .option('--follow-symlinks', 'push the files that symbolic links in a pushed folder lead to outside it (refused by default)')
    .option('--no-prefill', 'do not fill the model format and customProperties (parameters, dtype, quantization) from the model files\' headers')
    .addOption(new Option('--as-artifact', 'accepted for omlmd 0.1.x compatibility (always an artifact)').hideHelp())
    .action(async (target: string, paths: string[], o: PushOpts & { prefill?: boolean; followSymlinks?: boolean; format?: string; mountable?: boolean; encryptMetadata?: boolean }) => {
      if (o.encryptMetadata && !o.encryptRecipient?.length) throw new OmlmdError('USAGE', '--encrypt-metadata goes with --encrypt-recipient (whom to encrypt for)');
      if (o.mountable && o.encryptRecipient?.length) throw new OmlmdError('USAGE', '--mountable builds an image holding the files in clear, so it does not go with --encrypt-recipient (for an encrypted image: omlmd modelcar build --data-only --decryption-key KEY --encrypt-recipient PUB)');
      if (o.format !== 'omlmd' && o.format !== 'modelpack') throw new OmlmdError('USAGE', `--format takes omlmd or modelpack, not ${JSON.stringify(o.format)}`);
      let metadata = await metadataFromOptions(o);
      if (o.prefill !== false && !o.emptyMetadata && paths.length) metadata = await prefill(metadata, paths, o.followSymlinks === true);
      const c = client(o);
      const res = await withProgress('push', o, (onProgress) => c.push(target, {
        paths,
        metadata,
        annotations: o.annotation?.length ? Object.fromEntries(o.annotation.map(parseAnnotation)) : undefined,
        artifactType: o.artifactType === false ? false : undefined,
        encryptFor: recipientsFrom(o.encryptRecipient),
        ...(o.encryptMetadata ? { encryptMetadata: true } : {}),
        followSymlinks: o.followSymlinks,
        format: o.format as 'omlmd' | 'modelpack',
      }, { signal: controller.signal, onProgress, concurrency: concurrency(o) }));
      if (o.mountable) {
        const ref = parseReference(res.reference);
        if (ref.kind !== 'registry' && ref.kind !== 'layout' && ref.kind !== 'local') throw new OmlmdError('USAGE', '--mountable needs a store');
        const tag = ref.tag ?? 'latest';
        const { mountableIndex } = await import('../../core/lineage/api');
        const idx = await mountableIndex(c, formatReference({ ...ref, tag: undefined, digest: res.descriptor.digest }), tag, { signal: controller.signal, concurrency: concurrency(o) });
        if (o.json) {
          print(JSON.stringify({ reference: idx.reference, digest: idx.descriptor.digest, mediaType: idx.descriptor.mediaType, model: idx.model, image: idx.image, files: res.files.map((f) => ({ title: f.title, size: f.size })) }, null, 2));
        } else {
          print(`Pushed ${idx.reference}\n  an image index: the model ${idx.model.digest} and its data-only image ${idx.image.digest} (${idx.image.platform.os}/${idx.image.platform.architecture})`);
        }
        return;
      }
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, mediaType: res.descriptor.mediaType, size: res.descriptor.size, files: res.files.map((f) => ({ title: f.title, size: f.size })) }, null, 2));
      } else {
        const bytes = res.files.reduce((n, f) => n + f.size, 0);
        print(`Pushed ${res.reference}\n  ${res.files.length} model file${res.files.length === 1 ? '' : 's'} (${humanSize(bytes)})${res.files.length === 0 ? ', metadata only' : ''}`);
      }
    }), 'omlmd push localhost:5000/models/mnist:v1 mnist.onnx -m metadata.yaml');
}

const MAX_PREFILL_FILES = 256;

/**
 * What the user left out of the metadata, filled from the model files' headers (bounded
 * reads; never the weights). A header that cannot be read is a warning, never a failed push.
 * Loading a pickle runs code: each one is named on stderr.
 */
async function prefill(metadata: ModelMetadata, paths: string[], followSymlinks: boolean): Promise<ModelMetadata> {
  const files = (await collectModelFiles(paths, undefined, { followSymlinks })).filter((f) => MODEL_FILE_EXTENSIONS.has(extname(f.path).toLowerCase())).slice(0, MAX_PREFILL_FILES);
  const summaries: HeaderSummary[] = [];
  for (const f of files) {
    try {
      const s = await inspectModelFile(f.path);
      for (const w of s.warnings) process.stderr.write(`omlmd: warning: ${f.title}: ${w}\n`);
      if (s.complete) summaries.push(s);
    } catch (e) {
      if (!OmlmdError.is(e, 'INVALID_MODEL_FILE')) throw e;
      process.stderr.write(`omlmd: warning: ${e.message}; nothing filled from it\n`);
    }
  }
  const { metadata: filled, filled: fields } = prefillMetadata(metadata, suggestMetadata(summaries));
  if (!fields.length) return metadata;
  process.stderr.write(`omlmd: filled from the model files' headers: ${fields.join(', ')} (give them yourself, or --no-prefill, to set them otherwise)\n`);
  return validateMetadata(filled, 'the metadata filled from the model files\' headers');
}
