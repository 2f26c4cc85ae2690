/** Registry credentials: the chain of sources, Docker's files and helpers, login and logout. */
export {
  createCredentialsProvider, credentialSources, findCredentials, envSource, explicitSource, authFileSource, envHostKey, loginStorePath,
} from './chain';
export type { CredentialSource, CredentialChainOptions } from './chain';
export { dockerConfigPath, containersAuthPaths, registryKey, serverUrl } from './dockerconfig';
export { verifyCredentials, storeLogin, eraseLogin } from './login';
export type { VerifyResult, LoginStoreOptions } from './login';
