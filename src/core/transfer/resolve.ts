import { OmlmdError } from '../errors';
import { MODEL_ARTIFACT_TYPE } from '../model/artifact';
import { MANIFEST_MEDIA_TYPES } from '../oci/mediatypes';
import type { CallOptions, Repository } from '../oci/store';
import type { Descriptor, FetchedManifest, Platform } from '../oci/types';

export type FetchedImageManifest = Extract<FetchedManifest, { kind: 'manifest' }>;

const ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x' };

export function hostPlatform(): Platform {
  return { os: process.platform === 'win32' ? 'windows' : process.platform, architecture: ARCH[process.arch] ?? process.arch };
}

/**
 * Fetches the manifest a reference names; when it is an image index, picks the one manifest
 * meant here: the only one, the model one (our artifactType), or the one for this platform.
 * Anything else is ambiguous, and the error lists the choices to pull by digest.
 */
export async function fetchImageManifest(repo: Repository, reference: string, opts: CallOptions & { platform?: Platform } = {}): Promise<{ fetched: FetchedImageManifest; index?: FetchedManifest }> {
  const top = await repo.fetchManifest(reference, opts);
  if (top.kind === 'manifest') return { fetched: top };
  const manifests = top.index.manifests.filter((d) => (MANIFEST_MEDIA_TYPES as readonly string[]).includes(d.mediaType));
  const platform = opts.platform ?? hostPlatform();
  const pick =
    manifests.length === 1 ? manifests[0]
    : (one(manifests.filter((d) => d.artifactType === MODEL_ARTIFACT_TYPE || d.artifactType === 'application/vnd.cncf.model.manifest.v1+json'))
      ?? one(manifests.filter((d) => d.platform?.os === platform.os && d.platform?.architecture === platform.architecture)));
  if (!pick) {
    const choices = top.index.manifests.map((d) => describeChoice(d)).join('; ');
    throw new OmlmdError('AMBIGUOUS', `${reference} in ${repo.description} is an image index with ${top.index.manifests.length} manifests and none is clearly the one to use: ${choices || 'it is empty'}`, {
      remedies: [{ kind: 'say', text: 'name one by digest: REPO@sha256:...' }],
    });
  }
  const child = await repo.fetchManifest(pick.digest, opts);
  if (child.kind !== 'manifest') {
    throw new OmlmdError('UNSUPPORTED', `${reference}: nested image indexes are not supported (${pick.digest})`);
  }
  return { fetched: child, index: top };
}

function one(ds: Descriptor[]): Descriptor | undefined {
  return ds.length === 1 ? ds[0] : undefined;
}

function describeChoice(d: Descriptor): string {
  const p = d.platform ? ` ${d.platform.os}/${d.platform.architecture}${d.platform.variant ? '/' + d.platform.variant : ''}` : '';
  const t = d.artifactType ? ` ${d.artifactType}` : '';
  return `${d.digest}${p}${t}`;
}
