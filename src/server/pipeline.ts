/**
 * The push-triggered pipeline as a notification action of the search server: every model
 * push the server indexes runs the configured actions (build the ModelCar, attach a model
 * card, run a command). The work itself is the core's `Pipeline` (src/core/lineage), whose
 * steps are also plain CLI commands for CI systems.
 */
import type { Pipeline } from '../core/lineage/pipeline';
import type { NotificationAction } from './events';

export function pipelineAction(pipeline: Pipeline): NotificationAction {
  return {
    name: 'pipeline',
    async onModelPushed(e, ctx) {
      await pipeline.handle(ctx.client, {
        registry: e.registry,
        repository: e.repository,
        tag: e.tag,
        digest: e.digest,
        reference: `${e.registry}/${e.repository}:${e.tag}`,
        eventId: e.event.id,
        event: e.event,
      }, ctx.signal);
    },
  };
}
