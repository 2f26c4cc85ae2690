/** A repository's tags: the list, page by page (Link header), and deleting one tag alone. */
import { OmlmdError } from '../../errors';
import { isDigest } from '../digest';
import { discard } from '../http';
import type { CallOptions } from '../store';
import { checkReference, readJson, stringArray, type RepoContext } from './common';
import { resolve } from './manifests';
import { linkPages } from './pagination';

/** All tags, sorted: registries return them in storage order (distribution: unsorted). */
export async function listTags(repo: RepoContext, opts: CallOptions = {}): Promise<string[]> {
  const tags = new Set<string>();
  for await (const page of tagPages(repo, opts)) for (const t of page) tags.add(t);
  return [...tags].sort();
}

/** The tags one page at a time, as the registry sends them (`Link: rel="next"`), for a caller that works as they come. */
export async function* tagPages(repo: RepoContext, opts: CallOptions = {}): AsyncGenerator<string[]> {
  const operation = repo.op('list-tags');
  const ctx = repo.ctx(operation, { code: 'NAME_UNKNOWN', problem: `repository ${repo.description} not found` });
  for await (const { res, budget } of linkPages(repo.http, repo.url('tags/list'), (url) => ({ method: 'GET', url, scope: repo.pull, signal: opts.signal }), ctx)) {
    const doc = await readJson(res, operation, opts.signal, budget);
    yield stringArray(doc.tags, operation);
  }
}

export async function deleteTag(repo: RepoContext, tag: string, opts: CallOptions = {}): Promise<void> {
  const ref = checkReference(tag, 'tag');
  if (isDigest(ref)) throw new OmlmdError('USAGE', `${ref} is a digest, not a tag: delete the manifest instead`);
  const operation = repo.op('delete-tag', ref);
  try {
    const res = await repo.http.request(
      { method: 'DELETE', url: repo.url(`manifests/${ref}`), scope: repo.delete, signal: opts.signal },
      repo.ctx(operation, { code: 'MANIFEST_UNKNOWN', problem: `tag ${ref} not found` }, true),
    );
    await discard(res.body);
  } catch (e) {
    // distribution answers 400 DIGEST_INVALID (it parses the tag as a digest); others 405 or UNSUPPORTED.
    if (OmlmdError.is(e) && (e.status === 400 || e.status === 405 || (e.code === 'UNSUPPORTED' && e.status !== undefined))) {
      let digest: string | undefined;
      try {
        digest = (await resolve(repo, ref, opts)).digest;
      } catch {
        digest = undefined;
      }
      throw new OmlmdError(
        'UNSUPPORTED',
        'the registry cannot delete a tag alone, only a manifest by digest, and deleting the manifest removes every tag on it',
        {
          cause: e, status: e.status, url: e.url, registryErrors: e.registryErrors, operation,
          remedies: [{ kind: 'delete-by-digest', reference: digest ? `${repo.description}@${digest}` : `${repo.description}:${ref}` }],
        },
      );
    }
    throw e;
  }
}
