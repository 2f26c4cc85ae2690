/**
 * `omlmd serve` options for push-triggered pipelines: which actions run when a model is
 * pushed. Each action is also a plain command (`omlmd modelcar build`, `omlmd model-card
 * --attach`, your own script), so CI systems run the same steps.
 */
import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { Pipeline, type ModelCarBuilder, type PipelineActionSpec, type PipelineLogger } from '../../core/lineage/pipeline';
import { pipelineAction } from '../../server/pipeline';
import type { NotificationAction } from '../../server/events';
import { modelCarWithProvenance } from '../../core/trust';
import { collect, version } from '../context';
import { signerFrom, trustFrom } from './trust';

export interface PipelineOpts {
  onPush?: string[];
  onPushExec?: string[];
  modelcarBase?: string;
  modelcarTag?: string;
  modelcarVerifyKey?: string;
  modelcarVerifyCa?: string;
  modelcarSignKey?: string;
  pipelineRetries?: string;
}

export function withPipelineOptions(cmd: Command): Command {
  return cmd
    .option('--on-push <action>', 'on every model push: "modelcar" (build the ModelCar image, pushed next to the model as a referrer) or "model-card" (attach a generated model card); repeatable', collect)
    .option('--on-push-exec <command>', 'on every model push, run this shell command with the event as JSON on stdin and OMLMD_REFERENCE, OMLMD_DIGEST, ... set; repeatable', collect)
    .option('--modelcar-base <image>', 'with --on-push modelcar: the base image (default the busybox-static minimal base)')
    .option('--modelcar-tag <template>', 'with --on-push modelcar: the image\'s tag, {tag} being the model\'s (default {tag}-modelcar)')
    .option('--modelcar-verify-key <pem>', 'with --on-push modelcar: build only from models whose signature verifies with this public key (retried with the other failures: a signature pushed just after its model is found)')
    .option('--modelcar-verify-ca <pem>', 'with --on-push modelcar: build only from models signed with a certificate from this CA')
    .option('--modelcar-sign-key <pem>', 'with --on-push modelcar: sign each image\'s SLSA provenance with this key (passphrase: OMLMD_SIGNING_PASSPHRASE)')
    .option('--pipeline-retries <n>', 'retries of a failed action, with backoff (default 4)');
}

/** The pipeline the options ask for, as the server's notification actions (none without options). */
export async function pipelineActions(o: PipelineOpts, log: PipelineLogger): Promise<NotificationAction[]> {
  const specs: PipelineActionSpec[] = [];
  for (const a of o.onPush ?? []) {
    if (a === 'modelcar') specs.push({ kind: 'modelcar', base: o.modelcarBase, tag: o.modelcarTag });
    else if (a === 'model-card') specs.push({ kind: 'model-card' });
    else throw new OmlmdError('USAGE', `--on-push takes modelcar or model-card, got ${JSON.stringify(a)}`, { remedies: [{ kind: 'say', text: 'run anything else with --on-push-exec COMMAND' }] });
  }
  for (const command of o.onPushExec ?? []) specs.push({ kind: 'exec', command });
  if (specs.length === 0) return [];
  const retries = o.pipelineRetries === undefined ? undefined : Number(o.pipelineRetries);
  if (retries !== undefined && (!Number.isInteger(retries) || retries < 0)) throw new OmlmdError('USAGE', `--pipeline-retries takes a whole number ≥ 0, got ${o.pipelineRetries}`);
  // Keys are read now, so a wrong path or passphrase stops the server at start, not at the first push.
  const verify = o.modelcarVerifyKey || o.modelcarVerifyCa ? await trustFrom(o.modelcarVerifyKey, o.modelcarVerifyCa, undefined, { key: '--modelcar-verify-key', ca: '--modelcar-verify-ca' }) : undefined;
  const signer = o.modelcarSignKey ? await signerFrom(o.modelcarSignKey, undefined, undefined, {}) : undefined;
  const modelCarBuilder: ModelCarBuilder | undefined = verify || signer
    ? (client, model, image, opts) => modelCarWithProvenance(client, model, image, { ...opts, verify, signer, builderVersion: version })
    : undefined;
  return [pipelineAction(new Pipeline(specs, { retries, log, modelCarBuilder }))];
}
