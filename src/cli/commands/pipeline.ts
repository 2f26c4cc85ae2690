/**
 * `omlmd serve` options for push-triggered pipelines: which actions run when a model is
 * pushed. Each action is also a plain command (`omlmd modelcar build`, `omlmd model-card
 * --attach`, your own script), so CI systems run the same steps.
 */
import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { Pipeline, type PipelineActionSpec, type PipelineLogger } from '../../core/lineage/pipeline';
import { pipelineAction } from '../../server/pipeline';
import type { NotificationAction } from '../../server/events';
import { collect } from '../context';

export interface PipelineOpts {
  onPush?: string[];
  onPushExec?: string[];
  modelcarBase?: string;
  modelcarTag?: string;
  pipelineRetries?: string;
}

export function withPipelineOptions(cmd: Command): Command {
  return cmd
    .option('--on-push <action>', 'on every model push: "modelcar" (build the ModelCar image, pushed next to the model as a referrer) or "model-card" (attach a generated model card); repeatable', collect)
    .option('--on-push-exec <command>', 'on every model push, run this shell command with the event as JSON on stdin and OMLMD_REFERENCE, OMLMD_DIGEST, ... set; repeatable', collect)
    .option('--modelcar-base <image>', 'with --on-push modelcar: the base image (default the busybox-static minimal base)')
    .option('--modelcar-tag <template>', 'with --on-push modelcar: the image\'s tag, {tag} being the model\'s (default {tag}-modelcar)')
    .option('--pipeline-retries <n>', 'retries of a failed action, with backoff (default 4)');
}

/** The pipeline the options ask for, as the server's notification actions (none without options). */
export function pipelineActions(o: PipelineOpts, log: PipelineLogger): NotificationAction[] {
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
  return [pipelineAction(new Pipeline(specs, { retries, log }))];
}
