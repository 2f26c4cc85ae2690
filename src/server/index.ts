/** The search server (`omlmd serve`): its factory, events and the action hook. */
export { createSearchServer } from './server';
export type { SearchServer, SearchServerOptions } from './server';
export { EventBus, silentLogger } from './events';
export type {
  ActionContext, CrawlFinished, IndexFailed, Listener, Logger, ModelDeleted, ModelPushed, NotificationAction, RegistryEvent, RegistryEventReceived, ServerEvent, ServerEventType,
} from './events';
export { openApiDocument, NOTIFICATION_MEDIA_TYPE } from './openapi';
export { pipelineAction } from './pipeline';
