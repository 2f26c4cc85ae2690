/**
 * Registry credentials: the chain of sources, Docker's files and helpers, login and logout.
 * What the library exports of credentials (src/core/index.ts re-exports this list).
 */
export { createCredentialsProvider, credentialSources, findCredentials, envSource, explicitSource, authFileSource, envHostKey } from './chain';
export type { CredentialSource, CredentialChainOptions } from './chain';
export { verifyCredentials, storeLogin, eraseLogin } from './login';
export type { VerifyResult, LoginStoreOptions } from './login';
