/**
 * What the search server tells listeners, and the hook for actions on model pushes (build a
 * ModelCar, attach a model card, ...). The notifications endpoint updates the index first,
 * then emits; listeners run after the HTTP answer, one failure never stops another, and
 * the registry is never kept waiting for them.
 */
import type { OmlmdClient } from '../core/client';
import type { WritableIndex } from '../core/search/backend';
import type { ArtifactDocument } from '../core/search/document';
import type { CrawlReport } from '../core/search/crawler';

/** One event of distribution's notification envelope (`{"events": [...]}`), as sent. */
export interface RegistryEvent {
  id?: string;
  timestamp?: string;
  action: string;
  target: {
    mediaType?: string;
    size?: number;
    digest?: string;
    length?: number;
    repository?: string;
    url?: string;
    tag?: string;
  };
  request?: { id?: string; addr?: string; host?: string; method?: string; useragent?: string };
  actor?: { name?: string };
  source?: { addr?: string; instanceID?: string };
}

/** Every event a registry delivered, model or not, once it is parsed: as received, not yet checked against the registry. */
export interface RegistryEventReceived {
  type: 'registry-event';
  /** The registry (host[:port]) the event was matched to. */
  registry: string;
  event: RegistryEvent;
}

/** A tag now names a model artifact, as the registry confirmed, and the index holds its document. */
export interface ModelPushed {
  type: 'model-pushed';
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  reference: string;
  document: ArtifactDocument;
  event: RegistryEvent;
}

/** A manifest was deleted; these documents left the index. */
export interface ModelDeleted {
  type: 'model-deleted';
  registry: string;
  repository: string;
  digest: string;
  documents: ArtifactDocument[];
  event: RegistryEvent;
}

/** A pushed tag could not be indexed (the registry failed, the config is malformed, ...). */
export interface IndexFailed {
  type: 'index-failed';
  registry: string;
  repository: string;
  tag?: string;
  digest?: string;
  error: Error;
}

/**
 * An event the registry does not bear out, so nothing (or only what the registry says) was
 * done: a push of a tag it does not have or that names another digest now, a delete of
 * what it still has.
 */
export interface EventIgnored {
  type: 'event-ignored';
  registry: string;
  event: RegistryEvent;
  reason: string;
}

/** A full re-crawl ended. */
export interface CrawlFinished {
  type: 'crawl-finished';
  registry: string;
  report: CrawlReport;
}

export type ServerEvent = RegistryEventReceived | ModelPushed | ModelDeleted | IndexFailed | EventIgnored | CrawlFinished;
export type ServerEventType = ServerEvent['type'];
export type Listener<T extends ServerEventType> = (event: Extract<ServerEvent, { type: T }>) => void | Promise<void>;

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export const silentLogger: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

/** What an action gets besides the event: the server's client (with its credentials) and index. */
export interface ActionContext {
  client: OmlmdClient;
  index: WritableIndex;
  log: Logger;
  /** Aborted when the server closes. */
  signal: AbortSignal;
}

/**
 * An action on model pushes and deletes, plugged into `createSearchServer({ actions })`.
 * It runs after the index is updated, outside the registry's request.
 */
export interface NotificationAction {
  readonly name: string;
  onModelPushed?(event: ModelPushed, ctx: ActionContext): Promise<void> | void;
  onModelDeleted?(event: ModelDeleted, ctx: ActionContext): Promise<void> | void;
  onRegistryEvent?(event: RegistryEventReceived, ctx: ActionContext): Promise<void> | void;
}

/** A small typed event emitter whose listeners may be async; `idle()` waits for all of them. */
export class EventBus {
  private readonly listeners = new Map<ServerEventType, Set<(e: ServerEvent) => void | Promise<void>>>();
  private readonly pending = new Set<Promise<void>>();

  constructor(private readonly log: Logger = silentLogger) {}

  on<T extends ServerEventType>(type: T, listener: Listener<T>): () => void {
    let set = this.listeners.get(type);
    if (!set) this.listeners.set(type, (set = new Set()));
    const l = listener as (e: ServerEvent) => void | Promise<void>;
    set.add(l);
    return () => set.delete(l);
  }

  /** Resolves with the next event of a type that passes `filter` (tests, scripts). */
  once<T extends ServerEventType>(type: T, filter: (e: Extract<ServerEvent, { type: T }>) => boolean = () => true): Promise<Extract<ServerEvent, { type: T }>> {
    return new Promise((resolve) => {
      const off = this.on(type, (e) => {
        if (!filter(e)) return;
        off();
        resolve(e);
      });
    });
  }

  emit(event: ServerEvent): void {
    for (const l of this.listeners.get(event.type) ?? []) {
      const p = Promise.resolve()
        .then(() => l(event))
        .catch((e: unknown) => this.log.error(`a listener of ${event.type} failed: ${(e as Error)?.message ?? String(e)}`))
        .finally(() => this.pending.delete(p));
      this.pending.add(p);
    }
  }

  /** Waits until every listener started so far has finished. */
  async idle(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
