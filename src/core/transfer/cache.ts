import { createHash } from 'node:crypto';
import { writeFileAtomic } from '../util/atomic';
import type { BigIntStats } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';

/**
 * What transfers remember between runs, under `$OMLMD_HOME/cache/`:
 *
 * - `digests/`: the sha256 of a file, keyed like git's index by its path and its stat
 *   (size, mtime, ctime, inode, device), so that pushing an unchanged multi-GB model again
 *   reads none of it. Any write changes mtime or ctime (ctime even when a tool puts mtime
 *   back), a replaced file has another inode: then the entry no longer matches.
 * - `blobs/`: the repositories of a registry known to hold a blob, for cross-repository mounts.
 * - `uploads/`: open upload sessions of files being pushed, to go on after an interruption.
 * - `encrypted/`: the encrypted layer a file became for a set of recipients (ciphertext
 *   digest and size, and the annotations: the key wrapped for those recipients, never the
 *   key in clear), so that pushing an unchanged encrypted model again sends nothing: a fresh
 *   key would make a new ciphertext every time.
 *
 * One small JSON file per key, replaced atomically: concurrent processes at worst lose an
 * entry, never read half of one. Everything here is a hint that is checked before it is
 * relied on (the registry verifies digests; a mount the registry refuses falls back to an
 * upload), so a lost or stale entry costs time, never correctness.
 */

const VERSION = 1;
/** Repositories remembered per blob. */
const MAX_LOCATIONS = 8;
const DAY_MS = 24 * 60 * 60 * 1000;
/** Where blobs are, unused this long, is forgotten by a prune. */
export const DEFAULT_PRUNE_DAYS = 30;
/** Registries drop upload sessions after a week (distribution's default purge: 168 h). */
const UPLOAD_DAYS = 7;
/** A temporary file of a write that did not finish (a killed process). */
const TMP_MS = 60 * 60 * 1000;
/** How often a transfer prunes on its own. */
const AUTO_PRUNE_MS = DAY_MS;

const KINDS = ['digests', 'blobs', 'uploads', 'encrypted'] as const;
export type CacheKind = (typeof KINDS)[number];

export interface CacheUsage {
  dir: string;
  entries: Record<CacheKind, number>;
  bytes: number;
}

export interface PruneResult {
  removed: Record<CacheKind, number>;
  /** Temporary files of writes that never finished. */
  strays: number;
  kept: number;
}

export interface FileStamp {
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
  dev: string;
}

export function stampOf(st: BigIntStats): FileStamp {
  return { size: Number(st.size), mtimeNs: st.mtimeNs.toString(), ctimeNs: st.ctimeNs.toString(), ino: st.ino.toString(), dev: st.dev.toString() };
}

export function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino && a.dev === b.dev;
}

/**
 * How long after a write its timestamp can still be shared by another write: Linux stamps
 * files with a coarse clock (one scheduler tick, ≤ 10 ms); file systems with whole-second
 * timestamps (FAT: 2 s) need longer. An entry recorded inside that window could miss a
 * write that followed ("racy git"), so none is.
 */
function racyWindowNs(stamp: FileStamp): bigint {
  return BigInt(stamp.mtimeNs) % 1_000_000_000n === 0n ? 2_000_000_000n : 50_000_000n;
}

/** An encrypted layer as the manifest names it. */
export interface EncryptedLayer {
  digest: string;
  size: number;
  mediaType: string;
  annotations: Record<string, string>;
}

export interface UploadSession {
  /** The upload's newest Location: it is a capability, so the file is private to the user. */
  location: string;
  /** Bytes the registry acknowledged. */
  offset: number;
}

function keyOf(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}

export class TransferCache {
  constructor(readonly dir: string) {}

  private file(kind: string, key: string): string {
    return join(this.dir, kind, key.slice(0, 2), `${key}.json`);
  }

  private async read<T>(kind: string, key: string): Promise<T | undefined> {
    try {
      const doc = JSON.parse(await readFile(this.file(kind, key), 'utf8')) as { v?: unknown };
      return doc.v === VERSION ? (doc as T) : undefined;
    } catch {
      return undefined;
    }
  }

  private async write(kind: string, key: string, doc: object): Promise<void> {
    const target = this.file(kind, key);
    try {
      await mkdir(join(target, '..'), { recursive: true, mode: 0o700 });
      // A cache needs no fsync: losing the newest entry to a crash only costs a hash next time.
      await writeFileAtomic(target, JSON.stringify({ v: VERSION, ...doc }), { mode: 0o600, durable: false });
    } catch {
      // A cache that cannot be written (read-only home, full disk) only makes the next run slower.
    }
  }

  private async remove(kind: string, key: string): Promise<void> {
    await rm(this.file(kind, key), { force: true }).catch(() => undefined);
  }

  /** Every entry file of a kind, with what stat says of it. */
  private async *entries(kind: CacheKind): AsyncGenerator<{ path: string; name: string; mtimeMs: number; size: number }> {
    const root = join(this.dir, kind);
    for (const shard of await readdir(root).catch(() => [] as string[])) {
      const dir = join(root, shard);
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        const path = join(dir, name);
        const st = await stat(path).catch(() => undefined);
        if (st?.isFile()) yield { path, name, mtimeMs: st.mtimeMs, size: st.size };
      }
    }
  }

  /** How many entries of each kind there are, and the bytes they take. */
  async usage(): Promise<CacheUsage> {
    const entries = { digests: 0, blobs: 0, uploads: 0, encrypted: 0 };
    let bytes = 0;
    for (const kind of KINDS) {
      for await (const e of this.entries(kind)) {
        entries[kind]++;
        bytes += e.size;
      }
    }
    return { dir: this.dir, entries, bytes };
  }

  /**
   * Removes what can no longer help: digests of files that are gone or have changed since (their
   * stat will never match again), where-blobs-are entries unused for `olderThanDays`, upload
   * sessions older than a week (registries have dropped them by then) or than `olderThanDays`,
   * and temporary files of writes a killed process left. Valid digests stay: they are what
   * makes a re-push free.
   */
  async prune(opts: { olderThanDays?: number; now?: number } = {}): Promise<PruneResult> {
    const now = opts.now ?? Date.now();
    const days = opts.olderThanDays ?? DEFAULT_PRUNE_DAYS;
    const removed = { digests: 0, blobs: 0, uploads: 0, encrypted: 0 };
    let strays = 0;
    let kept = 0;
    for (const kind of KINDS) {
      for await (const e of this.entries(kind)) {
        if (!e.name.endsWith('.json')) {
          if (now - e.mtimeMs > TMP_MS) {
            await rm(e.path, { force: true }).catch(() => undefined);
            strays++;
          }
          continue;
        }
        let drop: boolean;
        if (kind === 'digests') drop = await this.staleDigest(e.path);
        else if (kind === 'uploads') drop = now - e.mtimeMs > Math.min(days, UPLOAD_DAYS) * DAY_MS;
        else drop = now - e.mtimeMs > days * DAY_MS;
        if (drop) {
          await rm(e.path, { force: true }).catch(() => undefined);
          removed[kind]++;
        } else kept++;
      }
    }
    await this.markPruned(now);
    return { removed, strays, kept };
  }

  private async staleDigest(entry: string): Promise<boolean> {
    let doc: { v?: unknown; path?: unknown; stamp?: FileStamp };
    try {
      doc = JSON.parse(await readFile(entry, 'utf8')) as typeof doc;
    } catch {
      return true;
    }
    if (doc.v !== VERSION || typeof doc.path !== 'string' || !doc.stamp) return true;
    const st = await stat(doc.path, { bigint: true }).catch(() => undefined);
    return !st || !sameStamp(stampOf(st), doc.stamp);
  }

  private async markPruned(now: number): Promise<void> {
    const mark = join(this.dir, '.pruned');
    try {
      await mkdir(this.dir, { recursive: true, mode: 0o700 });
      await writeFile(mark, '');
      await utimes(mark, now / 1000, now / 1000);
    } catch {
      // Not pruned on schedule then; the next transfer tries again.
    }
  }

  /** Prunes when the last prune is a day old or more (or never ran): transfers call it, cheaply. */
  async pruneIfDue(now = Date.now()): Promise<PruneResult | undefined> {
    const last = await stat(join(this.dir, '.pruned')).catch(() => undefined);
    if (last && now - last.mtimeMs < AUTO_PRUNE_MS) return undefined;
    if (!last && !(await stat(this.dir).catch(() => undefined))) return undefined;
    return this.prune({ now });
  }

  /** Removes the whole cache: the next push of each file reads and hashes it again. */
  async clear(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }

  // ---- file digests ----

  /** The digest recorded for this file, if its stat still matches. */
  async digestOf(path: string, st: BigIntStats): Promise<string | undefined> {
    const abs = resolve(path);
    const doc = await this.read<{ path: string; stamp: FileStamp; digest: string }>('digests', keyOf(abs));
    if (!doc || doc.path !== abs || !sameStamp(doc.stamp, stampOf(st))) return undefined;
    return doc.digest;
  }

  /**
   * Records a file's digest, computed from bytes read while its stat was `before`. Nothing is
   * recorded if the file changed meanwhile or was written so recently that a later write
   * could leave the same stat; `wait` (the pull that just wrote it) waits out that window
   * once instead, and checks again.
   */
  async recordDigest(path: string, before: BigIntStats, digest: string, opts: { wait?: boolean } = {}): Promise<boolean> {
    const abs = resolve(path);
    const stamp = stampOf(before);
    const window = racyWindowNs(stamp);
    const racyFor = (): bigint => BigInt(stamp.mtimeNs) + window - BigInt(Date.now()) * 1_000_000n;
    let left = racyFor();
    if (left > 0n) {
      if (!opts.wait || window > 100_000_000n) return false;
      await new Promise((r) => setTimeout(r, Number(left / 1_000_000n) + 1));
      left = racyFor();
      if (left > 0n) return false;
    }
    const now = await stat(abs, { bigint: true }).catch(() => undefined);
    if (!now || !sameStamp(stampOf(now), stamp)) return false;
    await this.write('digests', keyOf(abs), { path: abs, stamp, digest });
    return true;
  }

  async forgetDigest(path: string): Promise<void> {
    await this.remove('digests', keyOf(resolve(path)));
  }

  // ---- where blobs are ----

  /** Repositories of `registry` known to hold `digest`, most recent first. */
  async locations(registry: string, digest: string): Promise<string[]> {
    const doc = await this.read<{ in: string[] }>('blobs', keyOf(registry, digest));
    return Array.isArray(doc?.in) ? doc.in.filter((r): r is string => typeof r === 'string') : [];
  }

  async addLocation(registry: string, digest: string, repository: string): Promise<void> {
    const known = await this.locations(registry, digest);
    if (known[0] === repository) {
      // Still in use: a prune keeps what was used lately.
      const now = new Date();
      await utimes(this.file('blobs', keyOf(registry, digest)), now, now).catch(() => undefined);
      return;
    }
    await this.write('blobs', keyOf(registry, digest), { in: [repository, ...known.filter((r) => r !== repository)].slice(0, MAX_LOCATIONS) });
  }

  // ---- encrypted layers ----

  /** The encrypted layer that the plaintext `digest` became for these recipients, if remembered. */
  async encryptedLayer(digest: string, recipients: string): Promise<EncryptedLayer | undefined> {
    const doc = await this.read<EncryptedLayer>('encrypted', keyOf(digest, recipients));
    return doc && typeof doc.digest === 'string' && Number.isSafeInteger(doc.size) && typeof doc.mediaType === 'string' && doc.annotations && typeof doc.annotations === 'object'
      ? { digest: doc.digest, size: doc.size, mediaType: doc.mediaType, annotations: doc.annotations }
      : undefined;
  }

  async recordEncryptedLayer(digest: string, recipients: string, layer: EncryptedLayer): Promise<void> {
    await this.write('encrypted', keyOf(digest, recipients), layer);
  }

  // ---- upload sessions ----

  /** Where a push of this file (as it is now) to this repository stopped, to resume it. */
  uploadSession(registry: string, repository: string, path: string, st: BigIntStats): { load(): Promise<UploadSession | undefined>; save(s: UploadSession): Promise<void>; clear(): Promise<void> } {
    const stamp = stampOf(st);
    const key = keyOf(registry, repository, resolve(path), JSON.stringify(stamp));
    return {
      load: async () => {
        const doc = await this.read<UploadSession>('uploads', key);
        return doc && typeof doc.location === 'string' && Number.isSafeInteger(doc.offset) ? { location: doc.location, offset: doc.offset } : undefined;
      },
      save: (s) => this.write('uploads', key, s),
      clear: () => this.remove('uploads', key),
    };
  }
}
