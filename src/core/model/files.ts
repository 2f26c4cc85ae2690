import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { basename, join, relative, resolve, isAbsolute } from 'node:path';
import { OmlmdError, toOmlmdError } from '../errors';
import { METADATA_TITLES } from './artifact';

export interface ModelFile {
  /** Absolute path on disk. */
  path: string;
  /** Layer title: the file name, or `dir/relative/path` for files found under a directory. */
  title: string;
  size: number;
  /** Set when `path` is a symbolic link: the file it leads to (its real path). */
  link?: string;
}

export interface CollectOptions {
  /** Follow symbolic links under a pushed folder that lead out of it (default: refuse them). */
  followSymlinks?: boolean;
}

/**
 * Expands the paths a user gives to push into files with titles. A file keeps its base name;
 * a directory contributes every file beneath it titled `dirname/relative/path`, so the tree
 * comes back as it was and two `config.json` in different folders never collide. A path given
 * itself is taken as given, link or not. Under a folder, links to files inside it are
 * followed; a link that leads out of it is refused unless `followSymlinks` (a link to a
 * private key is not part of a model by accident); links to directories are not followed
 * (no loops, no escaping the tree).
 */
export async function collectModelFiles(paths: string[], cwd = process.cwd(), opts: CollectOptions = {}): Promise<ModelFile[]> {
  const out: ModelFile[] = [];
  for (const p of paths) {
    const abs = resolve(cwd, p);
    let st;
    try {
      st = await stat(abs);
    } catch (e) {
      throw toOmlmdError(e, `cannot push ${p}`);
    }
    if (st.isFile()) {
      const l = await lstat(abs).catch(() => undefined);
      out.push({ path: abs, title: basename(abs), size: st.size, ...(l?.isSymbolicLink() ? { link: await realpath(abs).catch(() => abs) } : {}) });
    } else if (st.isDirectory()) {
      const root = await realpath(abs);
      await walk(abs, basename(root), out, { root, given: p, follow: opts.followSymlinks === true });
    }
    else throw new OmlmdError('USAGE', `cannot push ${p}: it is neither a file nor a directory`);
  }
  const seen = new Map<string, string>();
  for (const f of out) {
    const other = seen.get(f.title);
    if (other !== undefined) {
      throw new OmlmdError('CONFLICT', `two files would have the same name "${f.title}" in the artifact: ${other} and ${f.path}`, {
        remedies: [{ kind: 'say', text: 'rename one, or push their folders so their relative paths tell them apart' }],
      });
    }
    if (METADATA_TITLES.includes(f.title)) {
      throw new OmlmdError('CONFLICT', `${f.path}: "${f.title}" is the name omlmd gives the metadata layer`, { remedies: [{ kind: 'metadata-as-metadata' }] });
    }
    seen.set(f.title, f.path);
  }
  return out;
}

interface WalkContext {
  /** The real path of the folder being pushed. */
  root: string;
  /** The folder as the user named it, for messages. */
  given: string;
  follow: boolean;
}

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

async function walk(dir: string, prefix: string, out: ModelFile[], ctx: WalkContext): Promise<void> {
  let entries: string[] = [];
  try {
    for await (const e of await opendir(dir)) entries.push(e.name);
  } catch (e) {
    throw toOmlmdError(e, `cannot read directory ${dir}`);
  }
  entries = entries.sort();
  for (const name of entries) {
    const abs = join(dir, name);
    const l = await lstat(abs);
    if (l.isDirectory()) await walk(abs, `${prefix}/${name}`, out, ctx);
    else if (l.isFile()) out.push({ path: abs, title: `${prefix}/${name}`, size: l.size });
    else if (l.isSymbolicLink()) {
      const st = await stat(abs).catch(() => undefined);
      if (!st?.isFile()) continue;
      const target = await realpath(abs).catch(() => undefined);
      if (target === undefined) continue;
      if (!inside(ctx.root, target) && !ctx.follow) {
        throw new OmlmdError('USAGE', `${abs} is a symbolic link to ${target}, outside the folder ${ctx.given} being pushed`, {
          remedies: [{ kind: 'follow-symlinks', link: abs, target }],
        });
      }
      out.push({ path: abs, title: `${prefix}/${name}`, size: st.size, link: target });
    }
  }
}
