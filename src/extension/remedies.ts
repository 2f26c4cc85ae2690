/**
 * What the extension shows for an error, in VS Code's words: settings (`omlmd.registries`
 * and its fields) and buttons (Open Settings, Sign in…, Retry), never a CLI flag or command.
 * No `vscode` import: errors.ts shows what this describes, and the unit tests read it.
 */
import { noLinks } from './model/plainText';
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
const openRegistries: ErrorButton = { title: 'Open Settings', action: { kind: 'open-settings', query: REGISTRIES } };
const openTransfer: ErrorButton = { title: 'Open Settings', action: { kind: 'open-settings', query: 'omlmd.transfer' } };
const retry: ErrorButton = { title: 'Retry', action: { kind: 'retry' } };
const signIn = (registry: string): ErrorButton => ({ title: 'Sign in…', action: { kind: 'sign-in', registry } });

/** A setting field of one registry, as the user finds it in the Settings editor. */
function field(name: string, host: string): string {
  return `${name} for ${host} in the ${REGISTRIES} setting`;
}

function checkFile(r: Extract<Remedy, { kind: 'check-file' }>): { text: string; buttons: ErrorButton[] } {
  switch (r.setting) {
    case 'caFile': case 'certFile': case 'keyFile':
      return { text: `Check the file ${r.path} given as ${r.setting} in the ${REGISTRIES} setting.`, buttons: [openRegistries] };
    case 'config': return { text: `Check the config file ${r.path}.`, buttons: [] };
    case 'dockerConfig': return { text: `Check the Docker config file ${r.path}.`, buttons: [] };
    case 'metadata': return { text: `Check the metadata file ${r.path}.`, buttons: [] };
    case 'layout': return { text: `Check the path ${r.path}: an OCI layout is a folder with oci-layout, index.json and blobs/.`, buttons: [] };
    case 'file': return { text: `Check the file ${r.path}.`, buttons: [] };
  }
}

/** One remedy as a sentence and the buttons that carry it out. */
export function vscodeRemedy(r: Remedy): { text: string; buttons: ErrorButton[] } {
  switch (r.kind) {
    case 'start-registry': return { text: `Is the registry running at ${r.origin}?`, buttons: [retry] };
    case 'check-host-name': return { text: `Check the registry host name ${r.host}.`, buttons: [openRegistries] };
    case 'check-network': return { text: 'Check the network and proxy settings (http.proxy), or raise the omlmd.transfer.connectTimeout setting.', buttons: [retry, openTransfer] };
    case 'raise-timeout':
      return r.timeout === 'read'
        ? { text: `Try again, or raise the omlmd.transfer.readTimeout setting for a slow registry (${r.host}).`, buttons: [retry, openTransfer] }
        : { text: `Raise the omlmd.transfer.connectTimeout setting for a slow registry (${r.host}).`, buttons: [retry, openTransfer] };
    case 'trust-ca': return { text: `Set ${field('caFile', r.host)} to the certificate of the authority that signed it; insecure: true skips the check (unsafe).`, buttons: [openRegistries] };
    case 'certificate-name': return { text: `Use the host name the certificate was issued for; insecure: true in the ${REGISTRIES} setting skips the check (unsafe).`, buttons: [openRegistries] };
    case 'check-clock': return { text: 'Check the clock of this machine, or ask the registry operator to renew the certificate.', buttons: [] };
    case 'client-certificate': return { text: `${r.host} asks for a client certificate: set certFile and keyFile for ${r.host} in the ${REGISTRIES} setting.`, buttons: [openRegistries] };
    case 'use-plain-http': return { text: `If ${r.host} is a plain-HTTP registry, set ${field('plainHttp: true', r.host)}.`, buttons: [openRegistries] };
    case 'use-https': return { text: `${r.host} speaks HTTPS: set ${field('plainHttp: false', r.host)} (and caFile if a private authority signed its certificate).`, buttons: [openRegistries] };
    case 'sign-in': return { text: r.again ? `Check the credentials for ${r.registry}: sign in again.` : `Sign in to ${r.registry}.`, buttons: [signIn(r.registry)] };
    case 'check-access': return { text: `Check that the account used for ${r.registry} may ${r.write ? 'push to' : 'read'} ${r.repository ?? 'this repository'}.`, buttons: [signIn(r.registry)] };
    case 'wait': return { text: r.seconds !== undefined ? `The registry asks to wait ${Math.ceil(r.seconds)} s before trying again.` : 'Wait a while and try again.', buttons: [retry] };
    case 'try-later': return { text: `${r.registry} is failing (HTTP ${r.status}); try again later.`, buttons: [retry] };
    case 'check-file': return checkFile(r);
    case 'give-cert-and-key': return { text: `Set both certFile and keyFile in the ${REGISTRIES} setting.`, buttons: [openRegistries] };
    case 'delete-by-digest': return { text: `To remove the manifest with all its tags, delete ${r.reference}.`, buttons: [] };
    case 'pull-one-of': return { text: `Only one of ${r.paths.map((p) => JSON.stringify(p)).join(' and ')} can be written: ask whoever pushed the artifact to push it again with distinct file names.`, buttons: [] };
    case 'give-files-or-uri': return { text: 'Choose model files or a folder, or set uri in the metadata for a metadata-only artifact.', buttons: [] };
    case 'follow-symlinks': return { text: `Remove the link ${r.link} from the folder, or choose ${r.target} itself as a file to push.`, buttons: [] };
    case 'enable-deletes': return { text: `Deletes are turned off on ${r.registry}: its operator can enable them (storage.delete).`, buttons: [] };
    case 'log-in-again': return { text: `Sign in to ${r.registry} again.`, buttons: [signIn(r.registry)] };
    case 'inspect-artifact': return { text: `Open ${r.reference} in the Models view (Inspect Manifest) to see what it is.`, buttons: [] };
    case 'check-encryption-recipient': return { text: `Check ${JSON.stringify(r.recipient)} in the omlmd.push.encryptRecipients setting: each entry is jwe:/path/to/public.pem (an RSA or EC key) or provider:NAME[:PARAM] configured in OCICRYPT_KEYPROVIDER_CONFIG.`, buttons: [{ title: 'Open Settings', action: { kind: 'open-settings', query: 'omlmd.push.encryptRecipients' } }] };
    case 'give-decryption-key': return { text: 'Set omlmd.decryptionKeys to the private key of one of its recipients.', buttons: [{ title: 'Open Settings', action: { kind: 'open-settings', query: 'omlmd.decryptionKeys' } }] };
    case 'metadata-as-metadata': return { text: 'Give the metadata as metadata, not as a model file.', buttons: [] };
    case 'name-a-tag': return { text: `Name a tag, e.g. ${r.example}.`, buttons: [] };
    case 'choose-base-image': return { text: 'Choose a runnable base image with sh, ln and sleep (busybox, ubi-micro, ...), or the default one.', buttons: [] };
    case 'give-base-image': return { text: 'Or choose another base image for the ModelCar.', buttons: [] };
    case 'remove-stale-lock': return { text: `If no other omlmd process is using it, delete ${r.path}.`, buttons: [] };
    case 'server-token': return { text: `Set the token of the search server ${r.server}.`, buttons: [{ title: 'Set Token…', action: { kind: 'set-server-token' } }] };
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
  add({ title: 'Show Output', action: { kind: 'show-output' } });
  return { texts, buttons };
}

/** The message of an error notification (the error, then its remedies) and its buttons. */
export function describeForVsCode(e: unknown, registry?: string): ErrorDescription {
  if (!(e instanceof OmlmdError)) {
    return { message: `Unexpected error: ${noLinks(String((e as Error)?.message ?? e))}`, buttons: [{ title: 'Show Output', action: { kind: 'show-output' } }] };
  }
  const { texts, buttons } = adviceForVsCode(e, registry);
  // The message quotes registry text (errors[].message, a body's first line): inert here.
  const said = noLinks(e.message);
  const message = texts.length > 0 ? `${said}${/[.?!]$/.test(said) ? '' : '.'} ${texts.map(noLinks).join(' ')}` : said;
  return { message, buttons };
}
