// The extension's words for errors (its pure part: no vscode here): one row a Remedy kind
// (a Record, so a new kind without VS Code wording does not compile), the buttons each
// offers, and that nothing it shows names a CLI flag or an omlmd command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OmlmdError, type ErrorCode, type Remedy } from '../../src/core/errors';
import { cliRemedy } from '../../src/cli/remedies';
import { describeForVsCode, vscodeRemedy } from '../../src/extension/remedies';
import { namesCliFlag } from '../helpers/words';

type Row = { [K in Remedy['kind']]: [Extract<Remedy, { kind: K }>, string, string[]][] };

const H = 'registry.example.com:5000';
const S = 'Open Settings';

const TABLE: Row = {
  'start-registry': [[{ kind: 'start-registry', origin: 'http://127.0.0.1:5000' }, 'Is the registry running at http://127.0.0.1:5000?', ['Retry']]],
  'check-host-name': [[{ kind: 'check-host-name', host: 'regsitry.example.com' }, 'Check the registry host name regsitry.example.com.', [S]]],
  'check-network': [[{ kind: 'check-network', host: H }, 'Check the network and proxy settings (http.proxy), or raise the omlmd.transfer.connectTimeout setting.', ['Retry', S]]],
  'raise-timeout': [
    [{ kind: 'raise-timeout', timeout: 'read', host: H }, `Try again, or raise the omlmd.transfer.readTimeout setting for a slow registry (${H}).`, ['Retry', S]],
    [{ kind: 'raise-timeout', timeout: 'connect', host: H }, `Raise the omlmd.transfer.connectTimeout setting for a slow registry (${H}).`, ['Retry', S]],
  ],
  'trust-ca': [[{ kind: 'trust-ca', host: H }, `Set caFile for ${H} in the omlmd.registries setting to the certificate of the authority that signed it; insecure: true skips the check (unsafe).`, [S]]],
  'certificate-name': [[{ kind: 'certificate-name', host: H, name: 'registry.example.com' }, 'Use the host name the certificate was issued for; insecure: true in the omlmd.registries setting skips the check (unsafe).', [S]]],
  'check-clock': [[{ kind: 'check-clock', host: H }, 'Check the clock of this machine, or ask the registry operator to renew the certificate.', []]],
  'client-certificate': [[{ kind: 'client-certificate', host: H }, `${H} asks for a client certificate: set certFile and keyFile for ${H} in the omlmd.registries setting.`, [S]]],
  'use-plain-http': [[{ kind: 'use-plain-http', host: H }, `If ${H} is a plain-HTTP registry, set plainHttp: true for ${H} in the omlmd.registries setting.`, [S]]],
  'use-https': [[{ kind: 'use-https', host: H }, `${H} speaks HTTPS: set plainHttp: false for ${H} in the omlmd.registries setting (and caFile if a private authority signed its certificate).`, [S]]],
  'sign-in': [
    [{ kind: 'sign-in', registry: H, again: false }, `Sign in to ${H}.`, ['Sign in…']],
    [{ kind: 'sign-in', registry: H, again: true }, `Check the credentials for ${H}: sign in again.`, ['Sign in…']],
  ],
  'check-access': [
    [{ kind: 'check-access', registry: H, repository: 'models/mnist', write: true }, `Check that the account used for ${H} may push to models/mnist.`, ['Sign in…']],
    [{ kind: 'check-access', registry: H, write: false }, `Check that the account used for ${H} may read this repository.`, ['Sign in…']],
  ],
  'wait': [
    [{ kind: 'wait', seconds: 3600 }, 'The registry asks to wait 3600 s before trying again.', ['Retry']],
    [{ kind: 'wait' }, 'Wait a while and try again.', ['Retry']],
  ],
  'try-later': [[{ kind: 'try-later', registry: H, status: 503 }, `${H} is failing (HTTP 503); try again later.`, ['Retry']]],
  'check-file': [
    [{ kind: 'check-file', path: '/etc/ca.pem', setting: 'caFile' }, 'Check the file /etc/ca.pem given as caFile in the omlmd.registries setting.', [S]],
    [{ kind: 'check-file', path: '/etc/c.pem', setting: 'certFile' }, 'Check the file /etc/c.pem given as certFile in the omlmd.registries setting.', [S]],
    [{ kind: 'check-file', path: '/etc/k.pem', setting: 'keyFile' }, 'Check the file /etc/k.pem given as keyFile in the omlmd.registries setting.', [S]],
    [{ kind: 'check-file', path: 'md.yaml', setting: 'metadata' }, 'Check the metadata file md.yaml.', []],
    [{ kind: 'check-file', path: '/h/.config/omlmd/config.yaml', setting: 'config' }, 'Check the config file /h/.config/omlmd/config.yaml.', []],
    [{ kind: 'check-file', path: '/h/.docker/config.json', setting: 'dockerConfig' }, 'Check the Docker config file /h/.docker/config.json.', []],
    [{ kind: 'check-file', path: '/tmp/lay', setting: 'layout' }, 'Check the path /tmp/lay: an OCI layout is a folder with oci-layout, index.json and blobs/.', []],
    [{ kind: 'check-file', path: 'x.bin', setting: 'file' }, 'Check the file x.bin.', []],
  ],
  'give-cert-and-key': [[{ kind: 'give-cert-and-key' }, 'Set both certFile and keyFile in the omlmd.registries setting.', [S]]],
  'delete-by-digest': [[{ kind: 'delete-by-digest', reference: `${H}/m@sha256:abc` }, `To remove the manifest with all its tags, delete ${H}/m@sha256:abc.`, []]],
  'pull-one-of': [[{ kind: 'pull-one-of', paths: ['x.bin', './x.bin'] }, 'Only one of "x.bin" and "./x.bin" can be written: ask whoever pushed the artifact to push it again with distinct file names.', []]],
  'give-files-or-uri': [[{ kind: 'give-files-or-uri' }, 'Choose model files or a folder, or set uri in the metadata for a metadata-only artifact.', []]],
  'follow-symlinks': [[{ kind: 'follow-symlinks', link: '/m/key.pem', target: '/home/u/.ssh/id_rsa' }, 'Remove the link /m/key.pem from the folder, or choose /home/u/.ssh/id_rsa itself as a file to push.', []]],
  'enable-deletes': [[{ kind: 'enable-deletes', registry: H }, `Deletes are turned off on ${H}: its operator can enable them (storage.delete).`, []]],
  'log-in-again': [[{ kind: 'log-in-again', registry: H }, `Sign in to ${H} again.`, ['Sign in…']]],
  'inspect-artifact': [[{ kind: 'inspect-artifact', reference: `${H}/img:v1` }, `Open ${H}/img:v1 in the Models view (Inspect Manifest) to see what it is.`, []]],
  'check-encryption-recipient': [[{ kind: 'check-encryption-recipient', recipient: 'jwe:/k/pub.pem' }, 'Check "jwe:/k/pub.pem" in the omlmd.push.encryptRecipients setting: each entry is jwe:/path/to/public.pem (an RSA or EC key) or provider:NAME[:PARAM] configured in OCICRYPT_KEYPROVIDER_CONFIG.', ['Open Settings']]],
  'give-decryption-key': [[{ kind: 'give-decryption-key' }, 'Set omlmd.decryptionKeys to the private key of one of its recipients.', ['Open Settings']]],
  'metadata-as-metadata': [[{ kind: 'metadata-as-metadata' }, 'Give the metadata as metadata, not as a model file.', []]],
  'name-a-tag': [[{ kind: 'name-a-tag', example: 'REPO:v1' }, 'Name a tag, e.g. REPO:v1.', []]],
  'choose-base-image': [[{ kind: 'choose-base-image' }, 'Choose a runnable base image with sh, ln and sleep (busybox, ubi-micro, ...), or the default one.', []]],
  'give-base-image': [[{ kind: 'give-base-image' }, 'Or choose another base image for the ModelCar.', []]],
  'remove-stale-lock': [[{ kind: 'remove-stale-lock', path: '/tmp/lay/index.json.lock' }, 'If no other omlmd process is using it, delete /tmp/lay/index.json.lock.', []]],
  'server-token': [[{ kind: 'server-token', server: 'http://search:8080' }, 'Set the token of the search server http://search:8080.', ['Set Token…']]],
  'say': [[{ kind: 'say', text: 'rename one, or push their folders' }, 'Rename one, or push their folders.', []]],
};

const rows = Object.entries(TABLE) as [Remedy['kind'], [Remedy, string, string[]][]][];

for (const [kind, cases] of rows) {
  test(`VS Code remedy ${kind}: the exact text and buttons`, () => {
    for (const [remedy, text, buttons] of cases) {
      const d = vscodeRemedy(remedy);
      assert.equal(d.text, text);
      assert.deepEqual(d.buttons.map((b) => b.title), buttons);
      // In a notification (a code with no button of its own): the error, then the remedy; Show Output last.
      const n = describeForVsCode(new OmlmdError('IO', 'something failed', { remedies: [remedy] }));
      assert.equal(n.message, `something failed. ${text}`);
      assert.deepEqual(n.buttons.map((b) => b.title), [...buttons, 'Show Output']);
    }
  });
}

test('VS Code: no text of any remedy names a CLI flag or an omlmd command (the CLI\'s own words do)', () => {
  for (const [, cases] of rows) {
    for (const [remedy] of cases) {
      const { message, buttons } = describeForVsCode(new OmlmdError('HTTP', 'HTTP 500', { remedies: [remedy] }), H);
      const shown = [message, ...buttons.map((b) => b.title)].join('\n');
      assert.doesNotMatch(shown, /--[a-z]/i, remedy.kind);
      assert.ok(!namesCliFlag(shown), remedy.kind);
    }
  }
  // The check is not vacuous: the CLI words these with flags.
  assert.ok(namesCliFlag(cliRemedy({ kind: 'trust-ca', host: H })));
  assert.ok(namesCliFlag(cliRemedy({ kind: 'sign-in', registry: H, again: false })));
});

test('VS Code: plain advice (say) is shown as it is, after the message', () => {
  const err = new OmlmdError('TLS', `cannot ping ${H}: certificate signed by an unknown authority`, {
    remedies: [{ kind: 'say', text: 'ask the operator' }],
  });
  const d = describeForVsCode(err);
  assert.equal(d.message, `cannot ping ${H}: certificate signed by an unknown authority. Ask the operator.`);
  assert.deepEqual(d.buttons.map((b) => b.title), [S, 'Show Output']);
});

test('VS Code: codes keep the buttons they had (Sign in for the registry, Open Settings for TLS, Retry for the network)', () => {
  const cases: [ErrorCode, string | undefined, string[]][] = [
    ['UNAUTHORIZED', H, ['Sign in…', 'Show Output']],
    ['UNAUTHORIZED', undefined, ['Show Output']],
    ['DENIED', H, ['Sign in…', 'Show Output']],
    ['TLS', undefined, [S, 'Show Output']],
    ['NETWORK', undefined, ['Retry', 'Show Output']],
    ['TOOMANYREQUESTS', undefined, ['Retry', 'Show Output']],
    ['HTTP', undefined, ['Retry', 'Show Output']],
    ['MANIFEST_UNKNOWN', H, ['Show Output']],
    // A signature that does not verify: nothing to retry, no setting to open.
    ['VERIFICATION_FAILED', H, ['Show Output']],
  ];
  for (const [code, registry, buttons] of cases) {
    assert.deepEqual(describeForVsCode(new OmlmdError(code, 'x'), registry).buttons.map((b) => b.title), buttons, code);
  }
  // A typed remedy's registry wins; each button comes once.
  const d = describeForVsCode(new OmlmdError('UNAUTHORIZED', 'HTTP 401', { remedies: [{ kind: 'sign-in', registry: 'quay.io', again: true }] }), H);
  assert.deepEqual(d.buttons.map((b) => b.action), [{ kind: 'sign-in', registry: 'quay.io' }, { kind: 'show-output' }]);
  const s = describeForVsCode(new OmlmdError('TLS', 'x', { remedies: [{ kind: 'trust-ca', host: H }] })).buttons[0]!;
  assert.deepEqual(s.action, { kind: 'open-settings', query: 'omlmd.registries' });
});

test('VS Code: the operation begins the message; an error that is not ours is unexpected', () => {
  const err = new OmlmdError('NAME_UNKNOWN', 'repository models/x not found', { operation: { verb: 'list-tags', target: `${H}/models/x` } });
  assert.deepEqual(describeForVsCode(err), { message: `cannot list the tags of ${H}/models/x: repository models/x not found`, buttons: [{ title: 'Show Output', action: { kind: 'show-output' } }] });
  assert.equal(describeForVsCode(new TypeError('boom')).message, 'Unexpected error: boom');
});
