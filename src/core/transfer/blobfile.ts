import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { OmlmdError, toOmlmdError } from '../errors';
import { Digester } from '../oci/digest';
import type { Descriptor } from '../oci/types';

/**
 * A Transform that hashes and counts what passes, and fails as soon as more bytes arrive
 * than the descriptor announced (a hostile or broken server cannot fill the disk).
 */
export function verifyingTransform(desc: Descriptor, onBytes?: (n: number) => void): { stream: Transform; digester: Digester } {
  const digester = new Digester();
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (digester.size + chunk.length > desc.size) {
        cb(new OmlmdError('SIZE_MISMATCH', `blob ${desc.digest} is longer than the ${desc.size} bytes its descriptor announces`));
        return;
      }
      digester.update(chunk);
      onBytes?.(chunk.length);
      cb(null, chunk);
    },
  });
  return { stream, digester };
}

/** The name a download has until it is verified; never the final name. */
export function partialPath(finalPath: string): string {
  return join(dirname(finalPath), `.${basename(finalPath)}.${randomBytes(4).toString('hex')}.omlmd-partial`);
}

/**
 * Writes a blob's bytes to `finalPath` only if they match the descriptor: they go to a
 * temporary name, are hashed on the way, and are renamed into place after the digest and
 * size check. On any failure nothing is left behind.
 */
export async function writeVerifiedFile(source: Readable, desc: Descriptor, finalPath: string, what: string, opts: { signal?: AbortSignal; onBytes?: (n: number) => void } = {}): Promise<void> {
  const tmp = partialPath(finalPath);
  const { stream, digester } = verifyingTransform(desc, opts.onBytes);
  try {
    await pipeline(source, stream, createWriteStream(tmp, { flags: 'wx', highWaterMark: 1 << 20 }), { signal: opts.signal });
    if (digester.size !== desc.size) {
      throw new OmlmdError('SIZE_MISMATCH', `${what}: received ${digester.size} bytes, the manifest says ${desc.size}; nothing was written to ${finalPath}`);
    }
    const got = digester.digest();
    if (got !== desc.digest) {
      throw new OmlmdError('DIGEST_MISMATCH', `${what}: content does not match its digest (expected ${desc.digest}, got ${got}); nothing was written to ${finalPath}`);
    }
    await rename(tmp, finalPath);
  } catch (e) {
    source.destroy();
    await rm(tmp, { force: true });
    throw toOmlmdError(e, what);
  }
}
