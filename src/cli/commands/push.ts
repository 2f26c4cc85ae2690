import { Option, type Command } from 'commander';
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
    .option('--encrypt-recipient <jwe:pubkey.pem>', 'encrypt the model files for this RSA or EC public key, in the ocicrypt format skopeo and podman read (repeatable: each recipient alone can decrypt); the metadata stays readable', collect)
    .addOption(new Option('--as-artifact', 'accepted for omlmd 0.1.x compatibility (always an artifact)').hideHelp())
    .action(async (target: string, paths: string[], o: PushOpts) => {
      const metadata = await metadataFromOptions(o);
      const c = client(o);
      const res = await withProgress('push', o, (onProgress) => c.push(target, {
        paths,
        metadata,
        annotations: o.annotation?.length ? Object.fromEntries(o.annotation.map(parseAnnotation)) : undefined,
        artifactType: o.artifactType === false ? false : undefined,
        encryptFor: recipientsFrom(o.encryptRecipient),
      }, { signal: controller.signal, onProgress, concurrency: concurrency(o) }));
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, mediaType: res.descriptor.mediaType, size: res.descriptor.size, files: res.files.map((f) => ({ title: f.title, size: f.size })) }, null, 2));
      } else {
        const bytes = res.files.reduce((n, f) => n + f.size, 0);
        print(`Pushed ${res.reference}\n  ${res.files.length} model file${res.files.length === 1 ? '' : 's'} (${humanSize(bytes)})${res.files.length === 0 ? ', metadata only' : ''}`);
      }
    }), 'omlmd push localhost:5000/models/mnist:v1 mnist.onnx -m metadata.yaml');
}
