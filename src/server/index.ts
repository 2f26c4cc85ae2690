/** The search server (`omlmd serve`): its factory, events and the action hook. */
export { createSearchServer, openApiDocument } from './server';
export type { SearchServer, SearchServerOptions } from './server';
export { EventBus, silentLogger } from './events';
export type {
  ActionContext, CrawlFinished, EventIgnored, IndexFailed, Listener, Logger, ModelDeleted, ModelPushed, NotificationAction, RegistryEvent, RegistryEventReceived, ServerEvent, ServerEventType,
} from './events';
export { NOTIFICATION_MEDIA_TYPE } from './schemas';
export { pipelineAction } from './pipeline';
