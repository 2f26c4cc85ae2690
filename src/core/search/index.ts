/**
 * Finding models by their metadata: open an index, crawl registries into it, query it with
 * JSONPath. What the library exports of search (src/core/index.ts re-exports this list);
 * the query language's internals, the SQL translation and the document builder stay inside.
 */
export { openIndex, openWritableIndex, defaultIndexPath, query, fieldPaths } from './query';
export type { OpenIndexOptions, QueryOptions, QueryResult } from './query';
export { crawlToIndex, indexTag } from './crawler';
export type { CrawlOptions, CrawlReport, CrawlEvent, CrawlProblem } from './crawler';
export { isWritable } from './backend';
export type { SearchIndex, WritableIndex, FindOptions } from './backend';
export { MemoryIndex } from './memory';
export { SqliteIndex } from './sqlite';
export { PostgresIndex } from './postgres';
export type { PostgresIndexOptions } from './postgres';
export { RemoteIndex } from './remote';
export type { RemoteIndexOptions } from './remote';
export { compileQuery, QueryError } from './jsonpath';
export type { CompiledQuery, PathStep, JsonValue } from './jsonpath';
export type { ArtifactDocument, ArtifactKind, DocumentFields, ArtifactFileEntry } from './document';
