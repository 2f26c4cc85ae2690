import { convertArtifact, type ArtifactFormat } from './transfer/convert';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { registryOptions, type RegistrySettings } from './config';
import { OmlmdError } from './errors';
import { localStorePath, omlmdHome } from './home';
import { assertModel, viewArtifact, type ArtifactView } from './model/artifact';
import type { ModelMetadata } from './model/metadata';
import { readModelMetadata } from './model/modelpack';
import { OciLayout } from './oci/layout';
import { formatReference, parseReference, refOf, DEFAULT_TAG, type Reference } from './oci/reference';
import { isReferrersTag } from './oci/referrers-tag';
import { RegistryClient, type Credentials, type ProxySettings, type RetryEvent } from './oci/registry';
import { readSmallBlob, repositoryPages, type CallOptions, type Repository, type RepositoryLister, type RepositoryPage } from './oci/store';
import type { Descriptor, FetchedManifest, ImageManifest } from './oci/types';
import { TransferCache } from './transfer/cache';
import { copyArtifact, type CopyOptions, type CopyResult } from './transfer/copy';
import type { TransferOptions } from './transfer/progress';
import { pullModel, type PullOptions, type PullResult } from './transfer/pull';
import { pushModel, type PushInput, type PushResult } from './transfer/push';
import { fetchImageManifest } from './transfer/resolve';
import { normalizeHost } from './util/host';
import { mapLimit } from './util/limit';

/** Once a day, after a transfer, the cache drops what can no longer help (TransferCache.prune). */
async function housekeeping(cache: TransferCache): Promise<void> {
  await cache.pruneIfDue().catch(() => undefined);
}

export interface ClientOptions {
  /** The local data directory (default: OMLMD_HOME, else the per-user data directory). */
  home?: string;
  /** true: every registry over plain HTTP (as omlmd 0.1.x `--plain-http`); default: loopback hosts only. */
  plainHttp?: boolean;
  /**
   * The HTTP transport for every registry. Without it each registry gets one built from its
   * settings (TLS, timeouts) and `proxy`; pass `proxy` rather than a dispatcher to keep those.
   */
  dispatcher?: Dispatcher;
  /** Proxies (VS Code's http.proxy); by default HTTP(S)_PROXY and NO_PROXY. */
  proxy?: ProxySettings;
  /** false in a host that patches `node:http` (DispatcherOptions.nodeHttpClient says why). */
  nodeHttpClient?: boolean;
  /** Asked only when a registry challenges; see createCredentialsProvider for the usual chain. */
  credentials?: (registry: string) => Promise<Credentials | undefined>;
  userAgent?: string;
  /** TLS, plain HTTP, timeouts and retries per registry (the CLI's config file, the extension's settings). */
  registrySettings?: (registry: string) => RegistrySettings | undefined;
  /** Warnings that are not errors (TLS verification off), for a log or stderr. */
  onWarning?: (message: string) => void;
  /** A transient failure about to be retried. */
  onRetry?: (e: RetryEvent) => void;
}

export type Target = string | Reference;

export interface ArtifactInfo {
  reference: string;
  descriptor: Descriptor;
  /** The manifest that was read; for an image index, the model manifest chosen from it. */
  manifest: ImageManifest;
  /** The image index the reference named, if it named one. */
  index?: FetchedManifest;
  view: ArtifactView;
  /** The metadata, when it is an omlmd model. */
  metadata?: ModelMetadata & Record<string, unknown>;
  warnings: string[];
}

export interface LocalEntry {
  reference: string;
  repository: string;
  tag: string;
  digest: string;
  name?: string;
  format?: string;
  size: number;
  created?: string;
}

/** The omlmd library: everything the CLI and the extension do, with no I/O of its own to a terminal. */
export class OmlmdClient {
  readonly home: string;
  private readonly registries = new Map<string, RegistryClient>();
  private localLayout?: Promise<OciLayout>;

  constructor(private readonly options: ClientOptions = {}) {
    this.home = options.home ?? omlmdHome();
  }

  static parse(target: Target): Reference {
    return typeof target === 'string' ? parseReference(target) : target;
  }

  registry(host: string): RegistryClient {
    let c = this.registries.get(host);
    if (!c) {
      const settings = registryOptions(this.options.registrySettings?.(host) ?? {});
      c = new RegistryClient(host, {
        ...settings,
        plainHttp: this.options.plainHttp ? true : settings.plainHttp,
        dispatcher: this.options.dispatcher,
        proxy: this.options.proxy,
        nodeHttpClient: this.options.nodeHttpClient,
        credentials: this.options.credentials,
        userAgent: this.options.userAgent,
        onWarning: this.options.onWarning,
        onRetry: this.options.onRetry,
      });
      this.registries.set(host, c);
    }
    return c;
  }

  /** What transfers remember between runs: file digests, where blobs are, open uploads ($OMLMD_HOME/cache). */
  transferCache(): TransferCache {
    return new TransferCache(join(this.home, 'cache'));
  }

  /** The embedded store, created on first use. */
  localStore(): Promise<OciLayout> {
    this.localLayout ??= OciLayout.open(localStorePath(this.home), { create: true });
    return this.localLayout;
  }

  /** The repository a reference lives in. `create` makes a missing OCI layout (for writes). */
  async repository(target: Target, opts: { create?: boolean } = {}): Promise<Repository> {
    const ref = OmlmdClient.parse(target);
    switch (ref.kind) {
      case 'registry':
        return this.registry(ref.registry).repository(ref.repository);
      case 'layout':
        return (await OciLayout.open(ref.path, { create: opts.create })).repository();
      case 'local':
        return (await this.localStore()).repository(ref.repository);
    }
  }

  async push(target: Target, input: PushInput, opts: TransferOptions = {}): Promise<PushResult & { reference: string }> {
    const ref = OmlmdClient.parse(target);
    if (ref.digest) throw new OmlmdError('USAGE', `cannot push to a digest (${formatReference(ref)}): the digest comes from the content`, { remedies: [{ kind: 'name-a-tag', example: 'REPO:v1' }] });
    const repo = await this.repository(ref, { create: true });
    const tag = ref.tag ?? DEFAULT_TAG;
    const cache = this.transferCache();
    const res = await pushModel(repo, tag, input, { cache, ...opts });
    await housekeeping(cache);
    return { ...res, reference: formatReference({ ...ref, tag, digest: res.descriptor.digest }) };
  }

  async pull(target: Target, outDir: string, opts: PullOptions = {}): Promise<PullResult & { reference: string }> {
    const ref = OmlmdClient.parse(target);
    const repo = await this.repository(ref);
    const cache = this.transferCache();
    const res = await pullModel(repo, refOf(ref), outDir, { cache, ...opts });
    await housekeeping(cache);
    return { ...res, reference: formatReference({ ...ref, digest: res.descriptor.digest }) };
  }

  /** The manifest, what its layers are, and the metadata when it is a model. */
  async inspect(target: Target, opts: CallOptions = {}): Promise<ArtifactInfo> {
    const ref = OmlmdClient.parse(target);
    const repo = await this.repository(ref);
    const { fetched, index } = await fetchImageManifest(repo, refOf(ref), opts);
    const view = viewArtifact(fetched.manifest);
    const info: ArtifactInfo = { reference: formatReference(ref), descriptor: fetched.descriptor, manifest: fetched.manifest, index, view, warnings: [] };
    if (view.flavor !== 'other') {
      const { metadata, warnings } = await this.readConfig(repo, fetched.manifest, info.reference);
      info.metadata = metadata;
      info.warnings = warnings;
    }
    return info;
  }

  /** The model's metadata (its config blob), verified against its digest. */
  async metadata(target: Target, opts: CallOptions = {}): Promise<{ reference: string; digest: string; metadata: ModelMetadata & Record<string, unknown>; warnings: string[] }> {
    const ref = OmlmdClient.parse(target);
    const repo = await this.repository(ref);
    const { fetched } = await fetchImageManifest(repo, refOf(ref), opts);
    assertModel(fetched.manifest, formatReference(ref));
    const { metadata, warnings } = await this.readConfig(repo, fetched.manifest, formatReference(ref), opts);
    return { reference: formatReference(ref), digest: fetched.descriptor.digest, metadata, warnings };
  }

  /** omlmd 0.1.x `get config`: `{"reference": ..., "config": {...}}`. */
  async getConfig(target: Target, opts: CallOptions = {}): Promise<{ reference: string; config: ModelMetadata & Record<string, unknown> }> {
    const { reference, metadata } = await this.metadata(target, opts);
    return { reference, config: metadata };
  }

  /** Copies an artifact between any two stores, keeping its digest; only missing blobs move. */
  /**
   * Copies an artifact as it is (same digest), or with `format`, rewritten in that layout
   * (omlmd ↔ ModelPack; a new digest, the file blobs kept: see transfer/convert.ts).
   */
  async copy(source: Target, destination: Target, opts: CopyOptions & { format?: ArtifactFormat } = {}): Promise<CopyResult & { reference: string }> {
    const src = OmlmdClient.parse(source);
    const dst = OmlmdClient.parse(destination);
    if (dst.digest) throw new OmlmdError('USAGE', `cannot copy to a digest (${formatReference(dst)})`, { remedies: [{ kind: 'say', text: 'name a tag, or no tag to keep the source tag' }] });
    const tag = dst.tag ?? src.tag ?? (src.digest ? undefined : DEFAULT_TAG);
    if (opts.format && opts.decryptionKeys?.length) throw new OmlmdError('USAGE', 'a copy either decrypts or converts the layout, not both at once', { remedies: [{ kind: 'say', text: 'copy with the decryption key first, then convert the decrypted copy' }] });
    const cache = this.transferCache();
    const res = opts.format
      ? await convertArtifact(await this.repository(src), refOf(src), await this.repository(dst, { create: true }), tag, opts.format, { cache, ...opts })
      : await copyArtifact(await this.repository(src), refOf(src), await this.repository(dst, { create: true }), tag, { cache, ...opts });
    await housekeeping(cache);
    return { ...res, reference: formatReference({ ...dst, tag, digest: res.descriptor.digest }) };
  }

  async tags(target: Target, opts: CallOptions = {}): Promise<string[]> {
    return (await this.repository(target)).listTags(opts);
  }

  /** Tags a manifest again (no bytes move). */
  async tag(source: Target, newTag: string, opts: CallOptions = {}): Promise<Descriptor> {
    const ref = OmlmdClient.parse(source);
    const repo = await this.repository(ref);
    const m = await repo.fetchManifest(refOf(ref), opts);
    return repo.putManifest(m.bytes, m.descriptor.mediaType, newTag, opts);
  }

  async deleteTag(target: Target, opts: CallOptions = {}): Promise<void> {
    const ref = OmlmdClient.parse(target);
    if (!ref.tag || ref.digest) throw new OmlmdError('USAGE', `name a tag to delete: ${formatReference(ref)}`);
    await (await this.repository(ref)).deleteTag(ref.tag, opts);
  }

  /**
   * Repositories of a registry (`host[:port]`, through its catalog) or of the local store
   * (`local` or nothing), one page at a time.
   */
  async repositories(where: string | undefined, opts: CallOptions & { last?: string; n?: number } = {}): Promise<RepositoryPage> {
    return (await this.lister(where)).listRepositories(opts);
  }

  /** Every page of `repositories(where)` from `last` on, guarded against catalogs that never end (store.ts repositoryPages). */
  async *repositoryPages(where: string | undefined, opts: CallOptions & { last?: string; n?: number } = {}): AsyncGenerator<RepositoryPage> {
    yield* repositoryPages(await this.lister(where), { ...opts, target: where && where !== 'local' ? where : 'the local store' });
  }

  private async lister(where: string | undefined): Promise<RepositoryLister> {
    if (!where || where === 'local') return this.localStore();
    if (where.startsWith('oci:')) return OciLayout.open(where.slice(4));
    return this.registry(normalizeHost(where));
  }

  /** Everything in the local store, one entry per tag, with the model's name and format. */
  async list(opts: CallOptions = {}): Promise<LocalEntry[]> {
    const store = await this.localStore();
    const out: LocalEntry[] = [];
    for await (const page of repositoryPages(store, { ...opts, target: 'the local store' })) {
      for (const repository of page.repositories) {
        const repo = store.repository(repository);
        // `sha256-<hex>` tags hold referrers lists (OCI 1.1 tag schema), not models.
        for (const tag of (await repo.listTags(opts)).filter((t) => !isReferrersTag(t))) {
          const entry: LocalEntry = { reference: `${repository}:${tag}`, repository, tag, digest: '', size: 0 };
          try {
            const info = await this.inspect({ kind: 'local', repository, tag }, opts);
            entry.digest = info.descriptor.digest;
            entry.size = info.manifest.layers.reduce((n, l) => n + l.size, 0);
            entry.name = info.metadata?.name ?? undefined;
            entry.format = info.metadata?.model_format_name ?? undefined;
            entry.created = info.manifest.annotations?.['org.opencontainers.image.created'];
          } catch (e) {
            if (!(e instanceof OmlmdError)) throw e;
          }
          out.push(entry);
        }
      }
    }
    return out;
  }

  /**
   * omlmd 0.1.x `crawl`: the config of every target. Targets are fetched concurrently; one
   * that fails is reported in `errors` and does not stop the others.
   */
  async crawl(targets: Target[], opts: CallOptions & { concurrency?: number } = {}): Promise<{ results: { reference: string; config: ModelMetadata & Record<string, unknown> }[]; errors: { reference: string; error: OmlmdError }[] }> {
    const results: { reference: string; config: ModelMetadata & Record<string, unknown> }[] = [];
    const errors: { reference: string; error: OmlmdError }[] = [];
    const settled = await mapLimit(targets, opts.concurrency ?? 8, async (t) => {
      try {
        return { ok: await this.getConfig(t, opts) };
      } catch (e) {
        if (!(e instanceof OmlmdError) || e.code === 'CANCELLED') throw e;
        return { err: { reference: typeof t === 'string' ? t : formatReference(t), error: e } };
      }
    }, opts.signal);
    for (const s of settled) {
      if ('ok' in s && s.ok) results.push(s.ok);
      else if ('err' in s && s.err) errors.push(s.err);
    }
    return { results, errors };
  }

  private async readConfig(repo: Repository, manifest: ImageManifest, where: string, opts: CallOptions = {}) {
    const desc = manifest.config;
    const bytes = await readSmallBlob(repo, desc, `${where}: the config blob`, opts, 4 << 20, 'NOT_A_MODEL');
    return readModelMetadata(manifest, bytes, where);
  }
}
