import { resolve } from 'node:path';
import type { Command } from 'commander';
import { client, collect, concurrency, controller, example, print, withCommon, withProgress, type Common } from '../context';
import { decryptionKeysFrom } from '../keys';
import { humanSize } from '../output';

/** `omlmd pull`: an artifact's files into a directory, every digest verified. */
export function registerPull(program: Command): void {
  example(withCommon(program.command('pull'), true)
    .description('pull an artifact\'s files into a directory, verifying every digest')
    .argument('<target>', 'what to pull')
    .option('-o, --output <dir>', 'output directory', '.')
    .option('-m, --media-types <type>', 'only layers of this media type (repeatable)', collect)
    .option('-i, --include <glob>', 'only files matching this path glob (repeatable), e.g. "*.onnx"', collect)
    .option('-x, --exclude <glob>', 'leave out files matching this path glob (repeatable)', collect)
    .option('--no-unpack', 'write the folder tar of an omlmd 0.1.x directory push as a file instead of unpacking it')
    .option('--decryption-key <key.pem>', 'private key for encrypted files (repeatable; also OMLMD_DECRYPTION_KEYS, comma-separated files; passphrase in OMLMD_DECRYPTION_PASSPHRASE)', collect)
    .action(async (target: string, o: Common & { output: string; mediaTypes?: string[]; include?: string[]; exclude?: string[]; unpack?: boolean; decryptionKey?: string[] }) => {
      const c = client(o);
      const out = resolve(o.output);
      const res = await withProgress('pull', o, (onProgress) => c.pull(target, out, {
        signal: controller.signal, onProgress, concurrency: concurrency(o), mediaTypes: o.mediaTypes, include: o.include, exclude: o.exclude, unpack: o.unpack,
        decryptionKeys: decryptionKeysFrom(o.decryptionKey),
      }));
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, files: res.files }, null, 2));
      } else {
        print(`Pulled ${res.reference} into ${out}`);
        for (const f of res.files) print(`  ${f.title}${f.unpacked ? '/' : ''}  ${humanSize(f.size)}${f.existed ? '  (already there)' : ''}`);
        if (res.files.length === 0) print('  no file matched');
      }
    }), 'omlmd pull localhost:5000/models/mnist:v1 -o ./model --include "*.onnx"');
}
