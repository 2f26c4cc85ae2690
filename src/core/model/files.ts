import { lstat, opendir, realpath, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { OmlmdError, toOmlmdError } from '../errors';
import { METADATA_TITLES } from './artifact';

export interface ModelFile {
  /** Absolute path on disk. */
  path: string;
  /** Layer title: the file name, or `dir/relative/path` for files found under a directory. */
  title: string;
  size: number;
}

/**
 * Expands the paths a user gives to push into files with titles. A file keeps its base name;
 * a directory contributes every file beneath it titled `dirname/relative/path`, so the tree
 * comes back as it was and two `config.json` in different folders never collide. Symbolic
 * links to files are followed; links to directories are not (no loops, no escaping the tree).
 */
export async function collectModelFiles(paths: string[], cwd = process.cwd()): Promise<ModelFile[]> {
  const out: ModelFile[] = [];
  for (const p of paths) {
    const abs = resolve(cwd, p);
    let st;
    try {
      st = await stat(abs);
    } catch (e) {
      throw toOmlmdError(e, `cannot push ${p}`);
    }
    if (st.isFile()) out.push({ path: abs, title: basename(abs), size: st.size });
    else if (st.isDirectory()) await walk(abs, basename(await realpath(abs)), out);
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

async function walk(dir: string, prefix: string, out: ModelFile[]): Promise<void> {
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
    if (l.isDirectory()) await walk(abs, `${prefix}/${name}`, out);
    else if (l.isFile()) out.push({ path: abs, title: `${prefix}/${name}`, size: l.size });
    else if (l.isSymbolicLink()) {
      const st = await stat(abs).catch(() => undefined);
      if (st?.isFile()) out.push({ path: abs, title: `${prefix}/${name}`, size: st.size });
    }
  }
}
