/**
 * Lineage: OCI 1.1 referrers (attach, discover, detach, copy with referrers), KServe ModelCar
 * images, the storage initializer, pipelines run on a model push. What the library exports of
 * lineage (src/core/index.ts re-exports this list); the referrers index upkeep, the tar and
 * ELF writers and the busybox base stay inside.
 */
export { attach, discover, detach, copyRecursive, attachModelCard, modelCar, modelCarBase, storageInitializer } from './api';
export type { ModelCarRequest } from './api';
export { ATTACHMENT_ARTIFACT_TYPE } from './attach';
export type { AttachFile, AttachOptions, AttachResult } from './attach';
export type { DiscoverOptions, DiscoverResult, ReferrerNode } from './discover';
export type { ReferrersSource } from './referrers';
export type { RecursiveCopyResult } from './copy';
export { MODELCAR_ARTIFACT_TYPE } from './modelcar';
export type { ModelCarResult } from './modelcar';
export { MODEL_CARD_ARTIFACT_TYPE, generateModelCard } from './modelcard';
export type { StorageInitializerOptions } from './storage';
export { Pipeline } from './pipeline';
export type { ModelCarBuilder, PipelineActionSpec, PipelineOptions, PipelineLogger, PipelineRun, ModelPush, RunStatus } from './pipeline';
