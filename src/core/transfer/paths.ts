import { mkdir, realpath } from 'node:fs/promises';
import { dirname, join, relative, resolve, sep, isAbsolute } from 'node:path';
import { OmlmdError } from '../errors';

/**
 * Turns a layer title (untrusted: anyone can push a manifest) into a path inside `outDir`,
 * or refuses it. Refused: absolute paths, drive letters, backslashes, `..` segments, NUL
 * and empty names. Then, after creating the parent directories, the real parent path must
 * still be inside the real output directory, so a symbolic link already in the output
 * cannot carry a file elsewhere.
 */
export function checkTitle(title: string): string {
  const why =
    title === '' ? 'it is empty'
    : title.includes('\0') ? 'it contains a NUL byte'
    : title.includes('\\') ? 'it contains a backslash'
    : title.startsWith('/') || isAbsolute(title) || /^[a-zA-Z]:/.test(title) ? 'it is an absolute path'
    : title.split('/').some((s) => s === '..') ? 'it climbs out of the output directory with ".."'
    : title.split('/').every((s) => s === '' || s === '.') ? 'it names no file'
    : undefined;
  if (why) throw new OmlmdError('UNSAFE_PATH', `refusing layer title ${JSON.stringify(title)}: ${why}`);
  return title.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

export async function safeOutputPath(outDir: string, title: string): Promise<string> {
  const clean = checkTitle(title);
  const root = await realpath(outDir);
  const target = join(root, ...clean.split('/'));
  await mkdir(dirname(target), { recursive: true });
  const parent = await realpath(dirname(target));
  const rel = relative(root, parent);
  if (rel.startsWith('..') || isAbsolute(rel) || (rel !== '' && rel.split(sep)[0] === '..')) {
    throw new OmlmdError('UNSAFE_PATH', `refusing layer title ${JSON.stringify(title)}: a symbolic link in ${outDir} leads outside it`);
  }
  return resolve(parent, target.slice(target.lastIndexOf(sep) + 1));
}
