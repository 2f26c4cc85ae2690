/**
 * Image layers as tar streams, framed here so that the exact size is known before a byte of
 * content is read (an upload announces it, a layout checks it) and the content streams
 * through, never whole in memory.
 *
 * Headers come from node-tar (`tar`, already a dependency and the most used tar library on
 * npm): its `Header` writes ustar headers with the prefix split, and `Pax` the extended
 * header for what ustar cannot hold (paths over 255 bytes, non-ASCII names, files over
 * 8 GiB). Its `Pack` stream is not used: it stats and reads files itself, adds the current
 * time and owner, and does not say its size in advance; reproducible layers need fixed
 * owners, modes and times, so that the same file always gives the same layer digest.
 */
import { Readable } from 'node:stream';
import { Header, Pax } from 'tar';
import { OmlmdError } from '../errors';
import { Digester } from '../oci/digest';
import type { Descriptor } from '../oci/types';

const BLOCK = 512;
/** Every entry gets the same time: layers depend on content only. */
export const LAYER_MTIME = new Date(0);

export type TarEntry =
  | { type: 'Directory'; path: string; mode?: number }
  | { type: 'SymbolicLink'; path: string; linkpath: string }
  | {
      type: 'File';
      path: string;
      size: number;
      mode?: number;
      /** Opens the content; called again when the layer is streamed again (a retried upload). */
      open: () => Readable | Promise<Readable>;
      /** When given, the content is checked against it as it streams; a mismatch fails the layer. */
      verify?: Pick<Descriptor, 'digest' | 'size'>;
    };

interface Framed {
  entry: TarEntry;
  header: Buffer;
  padding: number;
}

function headerFor(e: TarEntry): Buffer {
  const path = e.type === 'Directory' && !e.path.endsWith('/') ? `${e.path}/` : e.path;
  const data = {
    path,
    mode: e.type === 'File' ? (e.mode ?? 0o644) : e.type === 'Directory' ? (e.mode ?? 0o755) : 0o777,
    uid: 0,
    gid: 0,
    size: e.type === 'File' ? e.size : 0,
    mtime: LAYER_MTIME,
    type: e.type,
    linkpath: e.type === 'SymbolicLink' ? e.linkpath : '',
    uname: '',
    gname: '',
  };
  const h = new Header(data);
  const needPax = h.encode();
  const block = h.block;
  if (!block) throw new OmlmdError('IO', `cannot encode a tar header for ${path}`);
  if (!needPax) return block;
  const pax = new Pax({ path, linkpath: data.linkpath || undefined, size: data.size, mtime: LAYER_MTIME, uid: 0, gid: 0 }).encode();
  return Buffer.concat([pax, block]);
}

function checkPath(p: string): void {
  if (p === '' || p.startsWith('/') || p.split('/').some((s) => s === '..' || s === '.') || p.includes('\0')) {
    throw new OmlmdError('UNSAFE_PATH', `${JSON.stringify(p)} cannot be a path in an image layer`);
  }
}

/**
 * A layer's entries with their headers computed: its exact size, and a stream that can be
 * opened any number of times and gives the same bytes each time.
 */
export class TarLayer {
  readonly size: number;
  private readonly framed: Framed[];

  constructor(entries: TarEntry[]) {
    this.framed = entries.map((entry) => {
      checkPath(entry.path.replace(/\/$/, ''));
      if (entry.type === 'File' && (!Number.isSafeInteger(entry.size) || entry.size < 0)) throw new OmlmdError('SIZE_INVALID', `${entry.path}: size ${entry.size}`);
      const header = headerFor(entry);
      const size = entry.type === 'File' ? entry.size : 0;
      return { entry, header, padding: (BLOCK - (size % BLOCK)) % BLOCK };
    });
    this.size = this.framed.reduce((n, f) => n + f.header.length + (f.entry.type === 'File' ? f.entry.size : 0) + f.padding, 0) + 2 * BLOCK;
  }

  open(): Readable {
    const framed = this.framed;
    return Readable.from(
      (async function* () {
        for (const f of framed) {
          yield f.header;
          if (f.entry.type === 'File') {
            const e = f.entry;
            const digester = new Digester();
            const src = await e.open();
            try {
              for await (const c of src as AsyncIterable<Buffer | string>) {
                const chunk = typeof c === 'string' ? Buffer.from(c) : c;
                if (digester.size + chunk.length > e.size) throw new OmlmdError('SIZE_MISMATCH', `${e.path}: the source gave more than ${e.size} bytes`);
                digester.update(chunk);
                yield chunk;
              }
            } finally {
              src.destroy();
            }
            if (digester.size !== e.size) throw new OmlmdError('SIZE_MISMATCH', `${e.path}: the source gave ${digester.size} bytes, expected ${e.size}`);
            if (e.verify) {
              const got = digester.digest();
              if (got !== e.verify.digest) throw new OmlmdError('DIGEST_MISMATCH', `${e.path}: content does not match its digest (expected ${e.verify.digest}, got ${got})`);
            }
            if (f.padding > 0) yield Buffer.alloc(f.padding);
          }
        }
        yield Buffer.alloc(2 * BLOCK);
      })(),
      { objectMode: false },
    );
  }
}

/** The directory entries a set of file paths needs (`a/`, `a/b/`), parents first, sorted. */
export function parentDirectories(paths: string[]): string[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  return [...dirs].sort();
}
