import { OmlmdError } from '../errors';
import { isDigest } from './digest';

/**
 * Where an artifact lives. Three spellings:
 * - `host[:port]/repo[:tag][@digest]`: an OCI registry (the first component has a `.` or `:`, or is `localhost`);
 * - `oci:PATH[:TAG]` or `oci:PATH@DIGEST`: an OCI image layout on disk, as skopeo writes it;
 * - `repo[:tag][@digest]` with no registry: the embedded local store under OMLMD_HOME.
 */
export type Reference =
  | { kind: 'registry'; registry: string; repository: string; tag?: string; digest?: string }
  | { kind: 'layout'; path: string; tag?: string; digest?: string }
  | { kind: 'local'; repository: string; tag?: string; digest?: string };

export const DEFAULT_TAG = 'latest';

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_RE = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_RE = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
const HOST_RE = /^(?:\[[0-9a-fA-F:.]+\]|[a-zA-Z0-9](?:[a-zA-Z0-9.-]*[a-zA-Z0-9])?)(?::[0-9]{1,5})?$/;

function invalid(input: string, why: string, advice?: string): OmlmdError {
  return new OmlmdError('INVALID_REFERENCE', `invalid reference ${JSON.stringify(input)}: ${why}`, { remedies: advice === undefined ? [] : [{ kind: 'say', text: advice }] });
}

export function isValidRepository(name: string): boolean {
  return name.length <= 255 && NAME_RE.test(name);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** Splits `name[:tag][@digest]`; the tag colon is the last one after the last slash. */
function splitNameTagDigest(input: string, rest: string): { name: string; tag?: string; digest?: string } {
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!isDigest(digest)) throw invalid(input, `${JSON.stringify(digest)} is not a sha256 digest (sha256: followed by 64 lowercase hex digits)`);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!isValidTag(tag)) throw invalid(input, `tag ${JSON.stringify(tag)} may only hold letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')`);
  }
  return { name: rest, tag, digest };
}

function checkRepository(input: string, name: string): void {
  if (name === '') throw invalid(input, 'the repository name is empty');
  if (!isValidRepository(name)) {
    const lower = name.toLowerCase();
    const advice = lower !== name && isValidRepository(lower) ? `repository names are lowercase: use ${JSON.stringify(lower)}` : undefined;
    throw invalid(input, `repository ${JSON.stringify(name)} is not a valid name (lowercase letters, digits and . _ - separators, parts joined by /)`, advice);
  }
}

export function parseReference(input: string): Reference {
  const s = input.trim();
  if (s === '') throw invalid(input, 'it is empty', 'write host/repo:tag, oci:PATH:TAG, or repo:tag for the local store');
  if (s.startsWith('oci:')) {
    let rest = s.slice(4);
    let digest: string | undefined;
    const at = rest.lastIndexOf('@');
    if (at >= 0 && rest.slice(at + 1).startsWith('sha256:')) {
      digest = rest.slice(at + 1);
      rest = rest.slice(0, at);
      if (!isDigest(digest)) throw invalid(input, `${JSON.stringify(digest)} is not a sha256 digest`);
    }
    // As skopeo: the path ends at the first colon.
    const colon = rest.indexOf(':');
    const path = colon >= 0 ? rest.slice(0, colon) : rest;
    const tag = colon >= 0 ? rest.slice(colon + 1) : undefined;
    if (path === '') throw invalid(input, 'the layout path is empty', 'write oci:PATH[:TAG]');
    if (tag !== undefined && tag !== '' && !/^[A-Za-z0-9._:@/+-]+$/.test(tag)) throw invalid(input, `layout tag ${JSON.stringify(tag)} has characters an OCI layout ref.name cannot hold`);
    return { kind: 'layout', path, tag: tag || undefined, digest };
  }
  const slash = s.indexOf('/');
  const first = slash >= 0 ? s.slice(0, slash) : '';
  const isHost = slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['));
  if (isHost) {
    if (!HOST_RE.test(first)) throw invalid(input, `${JSON.stringify(first)} is not a valid registry host[:port]`);
    const { name, tag, digest } = splitNameTagDigest(input, s.slice(slash + 1));
    checkRepository(input, name);
    return { kind: 'registry', registry: first, repository: name, tag, digest };
  }
  const { name, tag, digest } = splitNameTagDigest(input, s);
  checkRepository(input, name);
  return { kind: 'local', repository: name, tag, digest };
}

/** The tag or digest a reference points at, defaulting to `latest` like every OCI client. */
export function refOf(ref: Reference): string {
  return ref.digest ?? ref.tag ?? DEFAULT_TAG;
}

export function formatReference(ref: Reference): string {
  const suffix = (ref.tag ? `:${ref.tag}` : '') + (ref.digest ? `@${ref.digest}` : '');
  switch (ref.kind) {
    case 'registry':
      return `${ref.registry}/${ref.repository}${suffix}`;
    case 'layout':
      return `oci:${ref.path}${suffix}`;
    case 'local':
      return `${ref.repository}${suffix}`;
  }
}

export function withDigest(ref: Reference, digest: string): Reference {
  return { ...ref, digest };
}

/** Loopback registries are reached over plain HTTP unless told otherwise (as docker and oras do). */
export function isLoopbackHost(registry: string): boolean {
  const host = registry.startsWith('[') ? registry.slice(1, registry.indexOf(']')) : registry.replace(/:\d+$/, '');
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
