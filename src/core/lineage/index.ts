/** Lineage: OCI 1.1 referrers (attach, discover, copy with referrers), KServe ModelCar images, the storage initializer, push-triggered pipelines. */
export * from './referrers';
export * from './attach';
export * from './discover';
export * from './copy';
export * from './tarlayer';
export * from './busybox';
export * from './modelcar';
export * from './modelcard';
export * from './storage';
export * from './pipeline';
export * from './api';
