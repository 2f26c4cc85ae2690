/**
 * The served root: where a serving runtime finds the model. KServe hands its runtimes
 * /mnt/models, and they look at that folder's root (sklearn's `model.joblib`, an HF folder's
 * `config.json`); KServe's `oci+native://` mounts an image's `/models` there.
 *
 * `omlmd push my-model/` titles the folder's files `my-model/relative/path`, so that `omlmd
 * pull` (and omlmd 0.1.x) bring the folder back as it was. What serves the model (the ModelCar
 * and data-only images, the storage initializer) puts the files relative to the pushed folder
 * instead, as `kit` and `modctl` pack files relative to their context folder, and keeps the
 * folder's name in the image's annotations. The rule, one place for all of them:
 *
 *   when every titled file served of an artifact omlmd wrote (its own layout, omlmd 0.1.x, or
 *   ModelPack carrying our metadata) sits under one top folder, that folder is the root.
 *
 * Push records the folder in the manifest annotation `dev.omlmd.model.root` (its name, no
 * guess); an artifact without it (pushed before, or by omlmd 0.1.x) falls back to the rule, so
 * models pushed the old way are served the same way. Peers' artifacts (KitOps,
 * ModelPack from modctl, Docker Model Runner) already hold paths relative to their root and are
 * served as they are: a modctl workspace whose files all sit in `weights/` keeps `weights/`.
 */
import type { ArtifactFile } from './artifact';
import { viewArtifact } from './artifact';
import { OMLMD_METADATA_ANNOTATION } from './modelpack';
import type { ImageManifest } from '../oci/types';

const segments = (path: string): string[] => path.split('/').filter((s) => s !== '' && s !== '.');

/** The manifest annotation naming the folder that was pushed (its files are titled under it). */
export const SERVED_ROOT_ANNOTATION = 'dev.omlmd.model.root';

/** The one top folder every path sits under (`my-model` of `my-model/a`, `my-model/b/c`), or undefined (a path at the top, two folders, none). */
export function commonFolder(paths: readonly string[]): string | undefined {
  let root: string | undefined;
  for (const p of paths) {
    const s = segments(p);
    if (s.length < 2) return undefined;
    if (root === undefined) root = s[0];
    else if (s[0] !== root) return undefined;
  }
  return root;
}

/** Whether omlmd wrote this artifact, so a single top folder is the folder that was pushed. */
function writtenByOmlmd(manifest: ImageManifest): boolean {
  const flavor = viewArtifact(manifest).flavor;
  return flavor === 'omlmd' || flavor === 'omlmd-0.1' || (flavor === 'modelpack' && manifest.annotations?.[OMLMD_METADATA_ANNOTATION] !== undefined);
}

/**
 * The folder of the artifact that is the served root (`my-model`), or undefined when the files
 * are served with their paths as they are. `files`: the files the consumer serves (the model
 * files; metadata layers are left out by the caller, they sit beside the folder).
 */
export function servedRoot(manifest: ImageManifest, files: readonly ArtifactFile[]): string | undefined {
  if (!writtenByOmlmd(manifest)) return undefined;
  const titled = files.filter((f) => f.titled);
  if (titled.length === 0 || titled.length !== files.length) return undefined;
  // Named at push: taken when it is a plain folder name that the files sit under.
  const named = manifest.annotations?.[SERVED_ROOT_ANNOTATION];
  if (named !== undefined) {
    const s = segments(named);
    return s.length === 1 && s[0] !== '..' && titled.some((f) => segments(f.path)[0] === s[0] && segments(f.path).length > 1) ? s[0] : undefined;
  }
  // Pushed the old way: a single top folder is the root (a file at the top means there is none).
  return commonFolder(titled.map((f) => f.path));
}

/** Where a file of the artifact lands under the served root: its path without the root folder (as it is when outside it). */
export function servedPath(path: string, root: string | undefined): string {
  if (root === undefined) return path;
  const s = segments(path);
  return s.length >= 2 && s[0] === root ? s.slice(1).join('/') : path;
}
