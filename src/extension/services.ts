import * as vscode from 'vscode';
import { OmlmdClient } from '../core/client';
import { registryOptions, type RegistrySettings } from '../core/config';
import { createCredentialsProvider, type CredentialSource } from '../core/credentials';
import type { DispatcherOptions } from '../core/oci/http';
import type { Credentials, ProxySettings, RegistryOptions } from '../core/oci/registry';
import { normalizeHost, sameHost } from '../core/util/host';
import type { RegistryEntry } from './model/browser';
import type { TrustSettings } from './model/trustFlow';

/** A typed view of the `omlmd.*` settings declared in package.json. */
export interface Config {
  registries: RegistryEntry[];
  home?: string;
  concurrency: number;
  /** Seconds, for every registry (omlmd.transfer.connectTimeout, readTimeout); unset: the core's defaults. */
  connectTimeout?: number;
  readTimeout?: number;
  /** omlmd.trust.*: key material and the policy file (paths). */
  trust: TrustSettings;
  /** omlmd.decryptionKeys: PEM private keys for encrypted models (paths). */
  decryptionKeys: string[];
  /** omlmd.push.encryptRecipients: whom pushes encrypt the model files for (`jwe:PUB.pem`, `provider:NAME`); empty: no encryption. */
  pushEncryptRecipients: string[];
  /** omlmd.push.format: the layout pushes write. */
  pushFormat: 'omlmd' | 'modelpack';
  /** omlmd.push.mountable: also tag an image index with a data-only image of the files (Kubernetes image volumes, KServe oci+native://). */
  pushMountable: boolean;
  /** omlmd.tree.tagSort: tags by created time (newest first) or by name. */
  tagSort: 'created' | 'name';
  /** Keep an encrypted signing key's passphrase in SecretStorage once typed. */
  rememberPassphrase: boolean;
}

export function readConfig(): Config {
  const c = vscode.workspace.getConfiguration('omlmd');
  const registries = (c.get<RegistryEntry[]>('registries') ?? []).filter((r) => r && typeof r.host === 'string' && r.host.trim() !== '');
  return {
    registries: registries.map((r) => ({ ...r, host: normalizeHost(r.host) })),
    home: c.get<string>('home') || undefined,
    concurrency: c.get<number>('transfer.concurrency') ?? 4,
    connectTimeout: c.get<number | null>('transfer.connectTimeout') || undefined,
    readTimeout: c.get<number | null>('transfer.readTimeout') || undefined,
    trust: {
      signingKey: c.get<string>('trust.signingKey') || undefined,
      signingCertificate: c.get<string>('trust.signingCertificate') || undefined,
      certificateChain: c.get<string>('trust.certificateChain') || undefined,
      verifyKey: c.get<string>('trust.verifyKey') || undefined,
      verifyCa: c.get<string>('trust.verifyCa') || undefined,
      certIdentity: c.get<string>('trust.certIdentity') || undefined,
      policyFile: c.get<string>('trust.policyFile') || undefined,
    },
    rememberPassphrase: c.get<boolean>('trust.rememberPassphrase') ?? false,
    pushFormat: c.get<string>('push.format') === 'modelpack' ? 'modelpack' : 'omlmd',
    pushMountable: c.get<boolean>('push.mountable') === true,
    tagSort: c.get<string>('tree.tagSort') === 'name' ? 'name' : 'created',
    pushEncryptRecipients: (c.get<string[]>('push.encryptRecipients') ?? []).filter((p) => typeof p === 'string' && p.trim() !== '').map((p) => p.trim()),
    decryptionKeys: (c.get<string[]>('decryptionKeys') ?? []).filter((p) => typeof p === 'string' && p.trim() !== ''),
  };
}

export async function updateRegistries(f: (r: RegistryEntry[]) => RegistryEntry[]): Promise<void> {
  const c = vscode.workspace.getConfiguration('omlmd');
  const current = c.get<RegistryEntry[]>('registries') ?? [];
  await c.update('registries', f(current.map((r) => ({ ...r }))), vscode.ConfigurationTarget.Global);
}

const SECRET_PREFIX = 'omlmd.registry/';

/**
 * The extension host patches node:http for VS Code's proxy support: each request waits for a
 * proxy resolution before it has a socket, and for hosts other than localhost VS Code's agent
 * replaces the one given (its kept-alive connections). The registries' requests go through
 * undici, which it leaves alone, and honour http.proxy themselves (vscodeProxy).
 */
const NODE_HTTP_CLIENT = false;

/** VS Code's `http.proxy` (and `http.noProxy`), when set; else the core reads HTTP(S)_PROXY. */
function vscodeProxy(): ProxySettings | undefined {
  const http = vscode.workspace.getConfiguration('http');
  const proxy = http.get<string>('proxy');
  if (!proxy) return undefined;
  const noProxy = http.get<string[]>('noProxy') ?? [];
  return { httpProxy: proxy, httpsProxy: proxy, noProxy: noProxy.join(',') || undefined };
}

/**
 * Everything the commands and the tree share: the settings, a core client built from them
 * (rebuilt when they change), credentials from SecretStorage, the log.
 */
export class Services implements vscode.Disposable {
  private cached?: OmlmdClient;
  private readonly disposables: vscode.Disposable[] = [];
  readonly onDidChange = new vscode.EventEmitter<void>();

  constructor(readonly context: vscode.ExtensionContext, readonly log: vscode.LogOutputChannel) {
    this.disposables.push(
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('omlmd') || e.affectsConfiguration('http.proxy')) {
          this.cached = undefined;
          this.onDidChange.fire();
        }
      }),
      this.onDidChange,
    );
  }

  get config(): Config {
    return readConfig();
  }

  client(): OmlmdClient {
    if (!this.cached) {
      const cfg = this.config;
      // SecretStorage first after the environment, then what the CLI and Docker know (omlmd
      // login, ~/.docker/config.json with its helpers, auth.json): one sign-in serves both.
      const secrets: CredentialSource = { name: 'VS Code secret storage', get: (registry) => this.credentials(registry) };
      this.cached = new OmlmdClient({
        home: cfg.home,
        ...this.transportSettings(),
        credentials: createCredentialsProvider({ sources: [secrets] }),
        registrySettings: (registry: string) => this.registrySettings(registry),
        onWarning: (m) => this.log.warn(m),
        onRetry: (e) => this.log.info(`retrying: ${JSON.stringify(e)}`),
      });
    }
    return this.cached;
  }

  /** A registry's settings (omlmd.registries, omlmd.transfer.*) in the core's terms. */
  registrySettings(registry: string): RegistrySettings {
    const cfg = this.config;
    const r = cfg.registries.find((x) => sameHost(x.host, registry));
    const timeouts = { connectTimeout: cfg.connectTimeout, readTimeout: cfg.readTimeout };
    return r ? { plainHttp: r.plainHttp, caFile: r.caFile, certFile: r.certFile, keyFile: r.keyFile, insecure: r.insecure, ...timeouts } : timeouts;
  }

  /** How a request to `registry` outside the client goes (a sign-in's check): as the client's do. */
  registryRequestOptions(registry: string): RegistryOptions {
    return { ...registryOptions(this.registrySettings(registry)), ...this.transportSettings() };
  }

  /** What every registry request of the extension's carries, in the client and outside it. */
  private transportSettings(): Pick<RegistryOptions, 'userAgent' | 'proxy' | 'nodeHttpClient'> {
    return { userAgent: `omlmd-vscode/${this.context.extension.packageJSON.version as string}`, proxy: vscodeProxy(), nodeHttpClient: NODE_HTTP_CLIENT };
  }

  /**
   * The search server's transport settings: the registries' proxy (VS Code's http.proxy,
   * else HTTP(S)_PROXY) and, as for them, the system's CAs and NODE_EXTRA_CA_CERTS.
   */
  searchTransport(): DispatcherOptions {
    return { ...vscodeProxy() };
  }

  /** Secrets are keyed by the normalised host; a key written as typed (before it was normalised) is still read and removed. */
  private secretKeys(registry: string): string[] {
    return [...new Set([SECRET_PREFIX + normalizeHost(registry), SECRET_PREFIX + registry])];
  }

  async credentials(registry: string): Promise<Credentials | undefined> {
    let raw: string | undefined;
    for (const key of this.secretKeys(registry)) if ((raw = await this.context.secrets.get(key))) break;
    if (!raw) return undefined;
    try {
      return JSON.parse(raw) as Credentials;
    } catch {
      return undefined;
    }
  }

  async storeCredentials(registry: string, creds: Credentials): Promise<void> {
    await this.context.secrets.store(SECRET_PREFIX + normalizeHost(registry), JSON.stringify(creds));
    this.cached = undefined;
  }

  async deleteCredentials(registry: string): Promise<void> {
    for (const key of this.secretKeys(registry)) await this.context.secrets.delete(key);
    this.cached = undefined;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
