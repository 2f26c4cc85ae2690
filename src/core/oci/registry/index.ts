/** The registry client: what the rest of omlmd imports from `oci/registry`. */
export { RegistryClient, RegistryRepository, type RegistryOptions } from './client';
export { DEFAULT_CHUNK_SIZE, MAX_MANIFEST_SIZE } from './common';
export { nextLink } from './pagination';
export type { Credentials, CredentialsProvider } from '../auth';
export type { ProxySettings, TlsSettings } from '../http';
export type { RetryEvent, RetryPolicy } from '../retry';
