/**
 * HDF5 (Keras 2 `.h5`, TensorFlow's legacy format): the signature at 0, 512, 1024, ... and
 * the superblock version after it. Keras writes `keras_version` and `backend` as root
 * attributes; walking HDF5 object headers to find them properly is a parser of its own, so
 * they are looked for in the first bytes, where h5py puts the root group's compact
 * attributes, and reported only when found (a heuristic: absent does not mean not Keras).
 */
import { ibytes, type BoundedReader } from './reader';
import type { HeaderSummary } from './types';

const SIGNATURE = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
const SCAN = 64 * 1024;

export function isHdf5(head: Buffer): boolean {
  return head.length >= 8 && head.subarray(0, 8).equals(SIGNATURE);
}

export async function readHdf5(r: BoundedReader, out: HeaderSummary): Promise<void> {
  if (r.size < 9) throw r.malformed('an HDF5 file ends inside its signature');
  const n = Math.min(r.size, SCAN, r.remaining);
  const head = await r.copy(0, n);
  const version = head[8]!;
  if (version > 3) throw r.malformed(`HDF5 superblock version ${version} is not one the format defines (0 to 3)`);
  out.formatVersion = `superblock ${version}`;
  const text = head.toString('latin1');
  const after = (key: string, re: RegExp): string | undefined => {
    const i = text.indexOf(key);
    return i < 0 ? undefined : re.exec(text.slice(i + key.length, i + key.length + 256))?.[1];
  };
  const keras = after('keras_version', /(\d+\.\d+(?:\.\d+)?[\w.+-]*)/);
  if (keras !== undefined || text.includes('model_config')) {
    out.framework = 'keras';
    out.format = 'keras';
    out.formatVersion = `hdf5 (superblock ${version})`;
    if (keras) out.frameworkVersion = keras;
    const backend = after('backend', /(tensorflow|theano|cntk|jax|torch)/);
    if (backend) out.metadata = { backend };
  } else if (r.size > n) {
    out.warnings.push(`no Keras attributes in the first ${ibytes(n)}: framework not known`);
  }
}
