/**
 * What the extension shows for an error, in VS Code's words: settings (`omlmd.registries`
 * and its fields) and buttons (Open Settings, Sign in…, Retry), never a CLI flag or command.
 * No `vscode` import: errors.ts shows what this describes, and the unit tests read it.
 */
import { noLinks } from './model/plainText';
import { l10n } from './model/l10n';
import { OmlmdError, type Remedy } from '../core/errors';

export type ErrorAction =
  | { kind: 'open-settings'; query: string }
  | { kind: 'sign-in'; registry: string }
  | { kind: 'set-server-token' }
  | { kind: 'retry' }
  | { kind: 'show-output' };

export interface ErrorButton {
  title: string;
  action: ErrorAction;
}

export interface ErrorDescription {
  message: string;
  buttons: ErrorButton[];
}

const REGISTRIES = 'omlmd.registries';
const openRegistries: ErrorButton = { title: l10n.t('Open Settings'), action: { kind: 'open-settings', query: REGISTRIES } };
const openTransfer: ErrorButton = { title: l10n.t('Open Settings'), action: { kind: 'open-settings', query: 'omlmd.transfer' } };
const retry: ErrorButton = { title: l10n.t('Retry'), action: { kind: 'retry' } };
const signIn = (registry: string): ErrorButton => ({ title: l10n.t('Sign in…'), action: { kind: 'sign-in', registry } });

/** A setting field of one registry, as the user finds it in the Settings editor. */
function field(name: string, host: string): string {
  return l10n.t('{0} for {1} in the {2} setting', name, host, REGISTRIES);
}

function checkFile(r: Extract<Remedy, { kind: 'check-file' }>): { text: string; buttons: ErrorButton[] } {
  switch (r.setting) {
    case 'caFile': case 'certFile': case 'keyFile':
      return { text: l10n.t('Check the file {0} given as {1} in the {2} setting.', r.path, r.setting, REGISTRIES), buttons: [openRegistries] };
    case 'config': return { text: l10n.t('Check the config file {0}.', r.path), buttons: [] };
    case 'dockerConfig': return { text: l10n.t('Check the Docker config file {0}.', r.path), buttons: [] };
    case 'metadata': return { text: l10n.t('Check the metadata file {0}.', r.path), buttons: [] };
    case 'layout': return { text: l10n.t('Check the path {0}: an OCI layout is a folder with oci-layout, index.json and blobs/.', r.path), buttons: [] };
    case 'file': return { text: l10n.t('Check the file {0}.', r.path), buttons: [] };
  }
}

/** One remedy as a sentence and the buttons that carry it out. */
export function vscodeRemedy(r: Remedy): { text: string; buttons: ErrorButton[] } {
  switch (r.kind) {
    case 'start-registry': return { text: l10n.t('Is the registry running at {0}?', r.origin), buttons: [retry] };
    case 'check-host-name': return { text: l10n.t('Check the registry host name {0}.', r.host), buttons: [openRegistries] };
    case 'check-network': return { text: l10n.t('Check the network and proxy settings (http.proxy), or raise the omlmd.transfer.connectTimeout setting.'), buttons: [retry, openTransfer] };
    case 'raise-timeout':
      return r.timeout === 'read'
        ? { text: l10n.t('Try again, or raise the omlmd.transfer.readTimeout setting for a slow registry ({0}).', r.host), buttons: [retry, openTransfer] }
        : { text: l10n.t('Raise the omlmd.transfer.connectTimeout setting for a slow registry ({0}).', r.host), buttons: [retry, openTransfer] };
    case 'trust-ca': return { text: l10n.t('Set {0} to the certificate of the authority that signed it; insecure: true skips the check (unsafe).', field('caFile', r.host)), buttons: [openRegistries] };
    case 'certificate-name': return { text: l10n.t('Use the host name the certificate was issued for; insecure: true in the {0} setting skips the check (unsafe).', REGISTRIES), buttons: [openRegistries] };
    case 'check-clock': return { text: l10n.t('Check the clock of this machine, or ask the registry operator to renew the certificate.'), buttons: [] };
    case 'client-certificate': return { text: l10n.t('{0} asks for a client certificate: set certFile and keyFile for {0} in the {1} setting.', r.host, REGISTRIES), buttons: [openRegistries] };
    case 'use-plain-http': return { text: l10n.t('If {0} is a plain-HTTP registry, set {1}.', r.host, field('plainHttp: true', r.host)), buttons: [openRegistries] };
    case 'use-https': return { text: l10n.t('{0} speaks HTTPS: set {1} (and caFile if a private authority signed its certificate).', r.host, field('plainHttp: false', r.host)), buttons: [openRegistries] };
    case 'sign-in': return { text: r.again ? l10n.t('Check the credentials for {0}: sign in again.', r.registry) : l10n.t('Sign in to {0}.', r.registry), buttons: [signIn(r.registry)] };
    case 'check-access': return { text: r.write ? l10n.t('Check that the account used for {0} may push to {1}.', r.registry, r.repository ?? l10n.t('this repository')) : l10n.t('Check that the account used for {0} may read {1}.', r.registry, r.repository ?? l10n.t('this repository')), buttons: [signIn(r.registry)] };
    case 'wait': return { text: r.seconds !== undefined ? l10n.t('The registry asks to wait {0} s before trying again.', Math.ceil(r.seconds)) : l10n.t('Wait a while and try again.'), buttons: [retry] };
    case 'try-later': return { text: l10n.t('{0} is failing (HTTP {1}); try again later.', r.registry, r.status), buttons: [retry] };
    case 'check-file': return checkFile(r);
    case 'give-cert-and-key': return { text: l10n.t('Set both certFile and keyFile in the {0} setting.', REGISTRIES), buttons: [openRegistries] };
    case 'delete-by-digest': return { text: l10n.t('To remove the manifest with all its tags, delete {0}.', r.reference), buttons: [] };
    case 'pull-one-of': return { text: l10n.t('Only one of {0} can be written: ask whoever pushed the artifact to push it again with distinct file names.', r.paths.map((p) => JSON.stringify(p)).join(l10n.t({ message: ' and ', comment: 'Between the quoted file names of "Only one of {0} can be written"' }))), buttons: [] };
    case 'give-files-or-uri': return { text: l10n.t('Choose model files or a folder, or set uri in the metadata for a metadata-only artifact.'), buttons: [] };
    case 'follow-symlinks': return { text: l10n.t('Remove the link {0} from the folder, or choose {1} itself as a file to push.', r.link, r.target), buttons: [] };
    case 'enable-deletes': return { text: l10n.t('Deletes are turned off on {0}: its operator can enable them (storage.delete).', r.registry), buttons: [] };
    case 'log-in-again': return { text: l10n.t('Sign in to {0} again.', r.registry), buttons: [signIn(r.registry)] };
    case 'inspect-artifact': return { text: l10n.t('Open {0} in the Models view (Inspect Manifest) to see what it is.', r.reference), buttons: [] };
    case 'check-encryption-recipient': return { text: l10n.t('Check {0} in the omlmd.push.encryptRecipients setting: each entry is jwe:/path/to/public.pem (an RSA or EC key) or provider:NAME[:PARAM] configured in OCICRYPT_KEYPROVIDER_CONFIG.', JSON.stringify(r.recipient)), buttons: [{ title: l10n.t('Open Settings'), action: { kind: 'open-settings', query: 'omlmd.push.encryptRecipients' } }] };
    case 'give-decryption-key': return { text: l10n.t('Set omlmd.decryptionKeys to the private key of one of its recipients.'), buttons: [{ title: l10n.t('Open Settings'), action: { kind: 'open-settings', query: 'omlmd.decryptionKeys' } }] };
    case 'metadata-as-metadata': return { text: l10n.t('Give the metadata as metadata, not as a model file.'), buttons: [] };
    case 'name-a-tag': return { text: l10n.t('Name a tag, e.g. {0}.', r.example), buttons: [] };
    case 'choose-base-image': return { text: l10n.t('Choose a runnable base image with sh, ln and sleep (busybox, ubi-micro, ...), or the default one.'), buttons: [] };
    case 'give-base-image': return { text: l10n.t('Or choose another base image for the ModelCar.'), buttons: [] };
    case 'remove-stale-lock': return { text: l10n.t('If no other omlmd process is using it, delete {0}.', r.path), buttons: [] };
    case 'server-token': return { text: l10n.t('Set the token of the search server {0}.', r.server), buttons: [{ title: l10n.t('Set Token…'), action: { kind: 'set-server-token' } }] };
    case 'say': return { text: sentence(r.text), buttons: [] };
    default: {
      const never: never = r;
      return { text: String((never as { kind: string }).kind), buttons: [] };
    }
  }
}

function sentence(text: string): string {
  const t = text.trim();
  return t === '' ? t : `${t[0]!.toUpperCase()}${t.slice(1)}${/[.?!)]$/.test(t) ? '' : '.'}`;
}

/**
 * The remedies of an error as sentences and buttons. `registry` is the registry the command
 * was about, for the Sign in button when the error has no typed remedy naming it. Buttons
 * come once each, in the order the remedies give them; Show Output is always last.
 */
export function adviceForVsCode(e: OmlmdError, registry?: string): { texts: string[]; buttons: ErrorButton[] } {
  const texts: string[] = [];
  const buttons: ErrorButton[] = [];
  const add = (b: ErrorButton): void => {
    if (!buttons.some((x) => x.title === b.title)) buttons.push(b);
  };
  for (const r of e.remedies) {
    const d = vscodeRemedy(r);
    if (d.text) texts.push(d.text);
    d.buttons.forEach(add);
  }
  // What each code offered before its remedies were typed, so no error loses its button.
  if (OmlmdError.is(e, 'UNAUTHORIZED', 'DENIED') && registry) add(signIn(registry));
  if (e.code === 'TLS') add(openRegistries);
  if (OmlmdError.is(e, 'NETWORK', 'TOOMANYREQUESTS', 'HTTP')) add(retry);
  add({ title: l10n.t('Show Output'), action: { kind: 'show-output' } });
  return { texts, buttons };
}

/** The message of an error notification (the error, then its remedies) and its buttons. */
export function describeForVsCode(e: unknown, registry?: string): ErrorDescription {
  if (!(e instanceof OmlmdError)) {
    return { message: l10n.t('Unexpected error: {0}', noLinks(String((e as Error)?.message ?? e))), buttons: [{ title: l10n.t('Show Output'), action: { kind: 'show-output' } }] };
  }
  const { texts, buttons } = adviceForVsCode(e, registry);
  // The message quotes registry text (errors[].message, a body's first line): inert here.
  const said = noLinks(e.message);
  const message = texts.length > 0 ? `${said}${/[.?!]$/.test(said) ? '' : '.'} ${texts.map(noLinks).join(' ')}` : said;
  return { message, buttons };
}
