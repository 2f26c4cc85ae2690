/**
 * Push-triggered pipelines: what runs when a model is pushed (the search server's
 * notifications endpoint calls `handle`; CI can run the same steps as plain CLI commands).
 *
 * - Idempotent under redelivery: each action first looks for its own result (a ModelCar or a
 *   model card already referring to the model) and skips; the builds are reproducible, so
 *   even two servers racing produce the same digest, recorded once.
 * - Safe under concurrent events: one run per (action, model digest) at a time in a process;
 *   different models run side by side, at most `concurrency` at once.
 * - Failures are retried with backoff and reported (the log, `runs()`), never thrown at the
 *   caller: one action failing does not stop the others.
 */
import { sleep } from '../util/abort';
import { Semaphore } from '../util/limit';
import { spawn } from 'node:child_process';
import type { OmlmdClient } from '../client';
import { OmlmdError } from '../errors';
import { isValidTag } from '../oci/reference';
import { ModelCarAnnotation, MODELCAR_ARTIFACT_TYPE } from './modelcar';
import { BUSYBOX_BASE_NAME } from './busybox';
import { MODEL_CARD_ARTIFACT_TYPE } from './modelcard';
import { attachModelCard, modelCar } from './api';
import { listReferrers } from './referrers';
import { formatReference, parseReference, type Reference } from '../oci/reference';

export type PipelineActionSpec =
  /** Build the ModelCar image and push it next to the model, tagged by `tag` (`{tag}` is the model's tag; default `{tag}-modelcar`). */
  | { kind: 'modelcar'; base?: string; tag?: string }
  /** Attach a model card generated from the model's metadata. */
  | { kind: 'model-card' }
  /** Run a shell command with the event as JSON on stdin (and OMLMD_* variables). */
  | { kind: 'exec'; command: string; timeoutMs?: number };

/** A model push, as the pipeline needs it. */
export interface ModelPush {
  registry: string;
  repository: string;
  tag: string;
  digest: string;
  /** `host/repo:tag` */
  reference: string;
  /** The registry's event id (redeliveries repeat it). */
  eventId?: string;
  /** The registry's event as received, passed on to commands. */
  event?: unknown;
}

export type RunStatus = 'running' | 'succeeded' | 'skipped' | 'failed';

export interface PipelineRun {
  action: string;
  reference: string;
  digest: string;
  status: RunStatus;
  attempts: number;
  started: string;
  finished?: string;
  /** What it made (`host/repo:tag@sha256:...`) or why it skipped. */
  result?: string;
  error?: string;
}

export interface PipelineLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Builds the ModelCar image of a pushed model (default: lineage's `modelCar`). A higher layer
 * passes its own: trust's verifies the model's signature first and signs the provenance, so
 * lineage itself needs no signer.
 */
export type ModelCarBuilder = (client: OmlmdClient, model: Reference, image: Reference, opts: { base?: string; signal?: AbortSignal }) => Promise<{ reference: string }>;

export interface PipelineOptions {
  /** How the modelcar action builds (default lineage's modelCar). */
  modelCarBuilder?: ModelCarBuilder;
  /** Retries after a failed attempt (default 4). */
  retries?: number;
  /** First retry delay, doubled each time (default 1 s, at most 30 s). */
  retryDelayMs?: number;
  /** Models handled at once (default 2). */
  concurrency?: number;
  log?: PipelineLogger;
  /** Every change of a run's status. */
  onRun?: (run: PipelineRun) => void;
}

const PERMANENT = new Set(['USAGE', 'NOT_A_MODEL', 'INVALID_REFERENCE', 'INVALID_METADATA', 'INVALID_MANIFEST', 'UNSAFE_PATH', 'UNSUPPORTED', 'CANCELLED', 'DENIED', 'UNAUTHORIZED']);

function describeAction(a: PipelineActionSpec): string {
  switch (a.kind) {
    case 'modelcar':
      return `modelcar${a.base ? ` (base ${a.base})` : ''}`;
    case 'model-card':
      return 'model-card';
    case 'exec':
      return `exec ${JSON.stringify(a.command)}`;
  }
}

/** `{tag}` → the model's tag; the result must be a valid tag. */
export function expandTagTemplate(template: string, push: Pick<ModelPush, 'tag' | 'digest'>): string {
  const tag = template.replace(/\{tag\}/g, push.tag).replace(/\{digest\}/g, push.digest.slice(7, 19));
  if (!isValidTag(tag)) throw new OmlmdError('USAGE', `tag template ${JSON.stringify(template)} gives ${JSON.stringify(tag)}, which is not a valid tag`);
  return tag;
}


export class Pipeline {
  private readonly keyed = new Map<string, Promise<unknown>>();
  private readonly history: PipelineRun[] = [];
  /** exec runs that succeeded, by action and model digest: commands cannot say whether they ran. */
  private readonly executed = new Set<string>();
  /** How many pushes are handled at once. */
  private readonly slots: Semaphore;
  private readonly log: PipelineLogger;

  constructor(
    readonly actions: PipelineActionSpec[],
    private readonly options: PipelineOptions = {},
  ) {
    this.slots = new Semaphore(options.concurrency ?? 2);
    this.log = options.log ?? { info: () => undefined, warn: () => undefined, error: () => undefined };
    for (const a of actions) if (a.kind === 'modelcar' && a.tag !== undefined) expandTagTemplate(a.tag, { tag: 'v1', digest: `sha256:${'0'.repeat(64)}` });
  }

  /** The runs so far (newest last), for a status page or a test. */
  runs(): PipelineRun[] {
    return this.history.map((r) => ({ ...r }));
  }

  /** Runs every action for a pushed model; resolves when all have succeeded, skipped or failed. */
  async handle(client: OmlmdClient, push: ModelPush, signal?: AbortSignal): Promise<PipelineRun[]> {
    return this.slots.run(() => Promise.all(this.actions.map((a) => this.once(`${describeAction(a)}|${push.registry}/${push.repository}@${push.digest}`, () => this.run(client, a, push, signal)))));
  }

  /** Runs with the same key wait for each other, so a redelivery finds the first one's result. */
  private async once<T>(key: string, job: () => Promise<T>): Promise<T> {
    const prev = this.keyed.get(key) ?? Promise.resolve();
    const run = prev.catch(() => undefined).then(job);
    const tail = run.catch(() => undefined);
    this.keyed.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.keyed.get(key) === tail) this.keyed.delete(key);
    }
  }

  private update(run: PipelineRun, patch: Partial<PipelineRun>): void {
    Object.assign(run, patch);
    this.options.onRun?.({ ...run });
  }

  private async run(client: OmlmdClient, action: PipelineActionSpec, push: ModelPush, signal?: AbortSignal): Promise<PipelineRun> {
    const name = describeAction(action);
    const run: PipelineRun = { action: name, reference: push.reference, digest: push.digest, status: 'running', attempts: 0, started: new Date().toISOString() };
    this.history.push(run);
    const retries = this.options.retries ?? 4;
    for (;;) {
      this.update(run, { attempts: run.attempts + 1 });
      try {
        const { skipped, result } = await this.attempt(client, action, push, signal);
        this.update(run, { status: skipped ? 'skipped' : 'succeeded', result, finished: new Date().toISOString(), error: undefined });
        this.log.info(`pipeline: ${name} for ${push.reference}@${push.digest}: ${skipped ? 'skipped, ' : ''}${result}`);
        return { ...run };
      } catch (e) {
        const err = e as Error;
        const permanent = (OmlmdError.is(e) && PERMANENT.has(e.code)) || signal?.aborted;
        if (permanent || run.attempts > retries) {
          this.update(run, { status: 'failed', error: err.message, finished: new Date().toISOString() });
          this.log.error(`pipeline: ${name} for ${push.reference}@${push.digest} failed after ${run.attempts} attempt${run.attempts === 1 ? '' : 's'}: ${err.message}`);
          return { ...run };
        }
        const delay = Math.min(30_000, (this.options.retryDelayMs ?? 1000) * 2 ** (run.attempts - 1));
        this.update(run, { error: err.message });
        this.log.warn(`pipeline: ${name} for ${push.reference}@${push.digest}: ${err.message}; retrying in ${delay} ms`);
        // An abort ends the wait; the loop then sees the signal.
        await sleep(delay, signal).catch(() => undefined);
      }
    }
  }

  private async attempt(client: OmlmdClient, action: PipelineActionSpec, push: ModelPush, signal?: AbortSignal): Promise<{ skipped: boolean; result: string }> {
    const modelRef = parseReference(`${push.registry}/${push.repository}@${push.digest}`);
    const repo = await client.repository(modelRef);
    switch (action.kind) {
      case 'modelcar': {
        const tag = expandTagTemplate(action.tag ?? '{tag}-modelcar', push);
        const baseName = action.base ?? BUSYBOX_BASE_NAME;
        const existing = (await listReferrers(repo, push.digest, { artifactType: MODELCAR_ARTIFACT_TYPE, signal })).referrers
          .filter((d) => (d.annotations?.[ModelCarAnnotation.baseName] ?? '') === (action.base ? formatReference(parseReference(action.base)) : baseName));
        if (existing.length > 0) {
          const tagged = await repo.resolve(tag, { signal }).then((d) => d.digest, () => undefined);
          const hit = existing.find((d) => d.digest === tagged);
          if (hit) return { skipped: true, result: `${push.registry}/${push.repository}:${tag}@${hit.digest} already refers to the model` };
        }
        const build: ModelCarBuilder = this.options.modelCarBuilder ?? modelCar;
        const res = await build(client, modelRef, { kind: 'registry', registry: push.registry, repository: push.repository, tag }, { base: action.base, signal });
        return { skipped: false, result: res.reference };
      }
      case 'model-card': {
        const existing = (await listReferrers(repo, push.digest, { artifactType: MODEL_CARD_ARTIFACT_TYPE, signal })).referrers;
        if (existing.length > 0) return { skipped: true, result: `a model card (${existing[0]!.digest}) already refers to the model` };
        const res = await attachModelCard(client, modelRef, { signal });
        return { skipped: false, result: res.reference };
      }
      case 'exec': {
        const key = `${action.command}|${push.registry}/${push.repository}@${push.digest}`;
        if (this.executed.has(key)) return { skipped: true, result: 'already ran for this model' };
        const out = await runCommand(action.command, push, action.timeoutMs ?? 10 * 60_000, signal);
        this.executed.add(key);
        return { skipped: false, result: out || 'exit 0' };
      }
    }
  }
}

/** The JSON a command gets on stdin. */
export function eventJson(push: ModelPush): string {
  return JSON.stringify({ type: 'model-pushed', registry: push.registry, repository: push.repository, tag: push.tag, digest: push.digest, reference: push.reference, eventId: push.eventId, event: push.event });
}

/** Runs `sh -c COMMAND` with the event on stdin; resolves with the last line of its output, rejects on a non-zero exit. */
export function runCommand(command: string, push: ModelPush, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', command], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: {
        ...process.env,
        OMLMD_EVENT: eventJson(push),
        OMLMD_REGISTRY: push.registry,
        OMLMD_REPOSITORY: push.repository,
        OMLMD_TAG: push.tag,
        OMLMD_DIGEST: push.digest,
        OMLMD_REFERENCE: `${push.registry}/${push.repository}:${push.tag}`,
      },
      signal,
      timeout: timeoutMs,
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4096)));
    child.stderr.on('data', (b: Buffer) => (err = (err + b.toString()).slice(-4096)));
    child.on('error', (e) => reject(new OmlmdError('IO', `cannot run ${JSON.stringify(command)}: ${e.message}`, { cause: e })));
    child.on('close', (code, sig) => {
      if (code === 0) resolve(out.trim().split('\n').pop() ?? '');
      else reject(new OmlmdError('IO', `${JSON.stringify(command)} ${sig ? `was killed by ${sig}` : `exited with ${code}`}${err.trim() ? `: ${err.trim().split('\n').slice(-3).join(' / ')}` : ''}`));
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(eventJson(push) + '\n');
  });
}
