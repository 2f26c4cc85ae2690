/** Finding models by their metadata: the query language, the indexes, the crawler. */
export { compileQuery, parseSortField, matches, evaluateJsonPath, compareCodePoints, QueryError } from './jsonpath';
export type { CompiledQuery, PathStep, JsonValue } from './jsonpath';
export { artifactKind, buildDocument, DOCUMENT_FIELDS, ModelPackMediaType, KITOPS_CONFIG_MEDIA_TYPE } from './document';
export type { ArtifactDocument, ArtifactKind, DocumentFields, ArtifactFileEntry } from './document';
export { compareDocuments, isWritable } from './backend';
export type { SearchIndex, WritableIndex, FindOptions } from './backend';
export { SqliteIndex } from './sqlite';
export { MemoryIndex } from './memory';
export { PostgresIndex, redactConnectionString } from './postgres';
export type { PostgresIndexOptions } from './postgres';
export { RemoteIndex, formatSortPath } from './remote';
export type { RemoteIndexOptions } from './remote';
export { openIndex, openWritableIndex, query, fieldPaths, defaultIndexPath, isPostgresUrl, DEFAULT_LIMIT } from './query';
export type { OpenIndexOptions, QueryOptions, QueryResult } from './query';
export { crawlToIndex, indexTag, readDocument, parseCrawlTarget, MAX_CONFIG_BYTES } from './crawler';
export type { CrawlOptions, CrawlReport, CrawlEvent, CrawlProblem, ReadDocumentResult } from './crawler';
