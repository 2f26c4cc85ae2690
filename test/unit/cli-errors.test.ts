// The CLI's words for errors: one row a Remedy kind (a Record, so a new kind without CLI
// wording does not compile), then a few whole messages with codes and operations.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OmlmdError, type Remedy } from '../../src/core/errors';
import { ExitCode, exitCodeFor, formatError } from '../../src/cli/output';
import { cliRemedy } from '../../src/cli/remedies';

type Row = { [K in Remedy['kind']]: [Extract<Remedy, { kind: K }>, string][] };

const H = 'registry.example.com:5000';

const TABLE: Row = {
  'start-registry': [[{ kind: 'start-registry', origin: 'http://127.0.0.1:5000' }, 'is the registry running at http://127.0.0.1:5000?']],
  'check-host-name': [[{ kind: 'check-host-name', host: 'regsitry.example.com' }, 'check the registry host name regsitry.example.com']],
  'check-network': [[{ kind: 'check-network', host: H }, 'check the network and proxy settings (HTTPS_PROXY, NO_PROXY), or raise --connect-timeout']],
  'raise-timeout': [
    [{ kind: 'raise-timeout', timeout: 'read', host: H }, 'try again, or raise --read-timeout for a slow registry'],
    [{ kind: 'raise-timeout', timeout: 'connect', host: H }, 'raise --connect-timeout for a slow registry'],
  ],
  'trust-ca': [[{ kind: 'trust-ca', host: H }, `pass --ca-file with the certificate of the authority that signed it (or set caFile for ${H} in the config file); --insecure skips the check (unsafe)`]],
  'certificate-name': [[{ kind: 'certificate-name', host: H, name: 'registry.example.com' }, 'use the host name the certificate was issued for; --insecure skips the check (unsafe)']],
  'check-clock': [[{ kind: 'check-clock', host: H }, 'check the clock of this machine, or ask the registry operator to renew the certificate']],
  'client-certificate': [[{ kind: 'client-certificate', host: H }, `pass --cert-file and --key-file (or set certFile and keyFile for ${H} in the config file)`]],
  'use-plain-http': [[{ kind: 'use-plain-http', host: H }, `pass --plain-http for a plain-HTTP registry (or set plainHttp: true for ${H} in the config file)`]],
  'use-https': [[{ kind: 'use-https', host: H }, `${H} speaks HTTPS: drop --plain-http (for a loopback registry, set plainHttp: false for it in the config file, or pass --ca-file)`]],
  'sign-in': [
    [{ kind: 'sign-in', registry: H, again: false }, `run omlmd login ${H}`],
    [{ kind: 'sign-in', registry: H, again: true }, `check the credentials for ${H} (omlmd login ${H})`],
  ],
  'check-access': [
    [{ kind: 'check-access', registry: H, repository: 'models/mnist', write: true }, `check that the account used for ${H} may push to models/mnist`],
    [{ kind: 'check-access', registry: H, write: false }, `check that the account used for ${H} may read this repository`],
  ],
  'wait': [
    [{ kind: 'wait', seconds: 3600 }, 'the registry asks to wait 3600 s before trying again'],
    [{ kind: 'wait' }, 'wait a while and try again'],
  ],
  'try-later': [[{ kind: 'try-later', registry: H, status: 503 }, `${H} is failing (HTTP 503); try again later`]],
  'check-file': [
    [{ kind: 'check-file', path: '/etc/ca.pem', setting: 'caFile' }, 'check the path given to --ca-file'],
    [{ kind: 'check-file', path: '/etc/c.pem', setting: 'certFile' }, 'check the path given to --cert-file'],
    [{ kind: 'check-file', path: '/etc/k.pem', setting: 'keyFile' }, 'check the path given to --key-file'],
    [{ kind: 'check-file', path: 'md.yaml', setting: 'metadata' }, 'check the path given to -m'],
    [{ kind: 'check-file', path: '/h/.config/omlmd/config.yaml', setting: 'config' }, 'check the config file /h/.config/omlmd/config.yaml (or point OMLMD_CONFIG at another)'],
    [{ kind: 'check-file', path: '/h/.docker/config.json', setting: 'dockerConfig' }, 'check the Docker config file /h/.docker/config.json (or point DOCKER_CONFIG at another folder)'],
    [{ kind: 'check-file', path: '/tmp/lay', setting: 'layout' }, 'check the path; a layout is a directory with oci-layout, index.json and blobs/ (skopeo copy ... oci:/tmp/lay:TAG writes one)'],
    [{ kind: 'check-file', path: 'x.bin', setting: 'file' }, 'check the path x.bin'],
  ],
  'give-cert-and-key': [[{ kind: 'give-cert-and-key' }, 'pass both --cert-file and --key-file']],
  'delete-by-digest': [[{ kind: 'delete-by-digest', reference: `${H}/m@sha256:abc` }, `to remove the manifest with all its tags, delete ${H}/m@sha256:abc`]],
  'pull-one-of': [[{ kind: 'pull-one-of', paths: ['x.bin', './x.bin'] }, 'pull one of them: --include "x.bin" (or -m MEDIA_TYPE)']],
  'give-files-or-uri': [[{ kind: 'give-files-or-uri' }, 'give model files or folders, or set uri (--uri s3://bucket/model) for a metadata-only artifact']],
  'follow-symlinks': [[{ kind: 'follow-symlinks', link: '/m/key.pem', target: '/home/u/.ssh/id_rsa' }, 'remove the link or give /home/u/.ssh/id_rsa as a path of its own; pass --follow-symlinks to push what links point to']],
  'enable-deletes': [[{ kind: 'enable-deletes', registry: H }, `enable storage.delete on ${H} (deletes are off in its configuration)`]],
  'log-in-again': [[{ kind: 'log-in-again', registry: H }, `log in again: omlmd login ${H}`]],
  'inspect-artifact': [[{ kind: 'inspect-artifact', reference: `${H}/img:v1` }, 'use `omlmd inspect` to see what it is, or `omlmd pull` to fetch its files']],
  'check-encryption-recipient': [[{ kind: 'check-encryption-recipient', recipient: 'jwe:pub.pem' }, 'check --encrypt-recipient jwe:pub.pem: jwe:PUBLIC-KEY.pem (an RSA or EC key) or provider:NAME[:PARAM] configured in OCICRYPT_KEYPROVIDER_CONFIG']],
  'give-decryption-key': [[{ kind: 'give-decryption-key' }, 'pass --decryption-key PRIVATE.pem with the key of one of its recipients (or name key files in OMLMD_DECRYPTION_KEYS)']],
  'metadata-as-metadata': [[{ kind: 'metadata-as-metadata' }, 'pass metadata with -m FILE instead of as a model file']],
  'name-a-tag': [[{ kind: 'name-a-tag', example: 'REPO:v1' }, 'name a tag, e.g. REPO:v1']],
  'choose-base-image': [[{ kind: 'choose-base-image' }, 'name a runnable image with sh, ln and sleep (busybox, ubi-micro, ...), or leave out --base']],
  'give-base-image': [[{ kind: 'give-base-image' }, 'or pass --base IMAGE']],
  'remove-stale-lock': [[{ kind: 'remove-stale-lock', path: '/tmp/lay/index.json.lock' }, 'if no other omlmd process is using it, delete /tmp/lay/index.json.lock']],
  'server-token': [[{ kind: 'server-token', server: 'http://search:8080' }, 'pass the token of http://search:8080 (OMLMD_SERVER_TOKEN)']],
  'say': [[{ kind: 'say', text: 'rename one, or push their folders' }, 'rename one, or push their folders']],
};

for (const [kind, rows] of Object.entries(TABLE) as [Remedy['kind'], [Remedy, string][]][]) {
  test(`CLI remedy ${kind}: the exact hint line`, () => {
    for (const [remedy, text] of rows) {
      assert.equal(cliRemedy(remedy), text);
      const err = new OmlmdError('HTTP', 'something failed', { remedies: [remedy] });
      assert.equal(formatError(err, false), `omlmd: error: something failed\n  hint: ${text}`);
    }
  });
}

test('CLI: the operation begins the message; one hint line a remedy, in order', () => {
  const err = new OmlmdError('UNAUTHORIZED', 'HTTP 401 authentication required', {
    status: 401,
    operation: { verb: 'put-manifest', target: `${H}/models/mnist`, ref: 'v1' },
    remedies: [{ kind: 'sign-in', registry: H, again: true }, { kind: 'say', text: 'tokens expire after an hour' }],
  });
  assert.equal(formatError(err, false), [
    `omlmd: error: cannot push manifest v1 to ${H}/models/mnist: HTTP 401 authentication required`,
    `  hint: check the credentials for ${H} (omlmd login ${H})`,
    '  hint: tokens expire after an hour',
  ].join('\n'));
  assert.equal(exitCodeFor(err), ExitCode.auth);
});

test('CLI: a TLS failure that may be plain HTTP or a private authority reads as one line, as before', () => {
  const err = new OmlmdError('TLS', 'cannot ping: localhost:5000 did not answer in TLS (it may be a plain-HTTP registry)', {
    remedies: [{ kind: 'use-plain-http', host: 'localhost:5000' }, { kind: 'trust-ca', host: 'localhost:5000' }],
  });
  assert.equal(formatError(err, false), 'omlmd: error: cannot ping: localhost:5000 did not answer in TLS (it may be a plain-HTTP registry)\n  hint: pass --plain-http for a plain-HTTP registry, or --ca-file for a registry with a private certificate authority');
  assert.equal(exitCodeFor(err), ExitCode.network);
});

test('CLI: a connect timeout named by the network advice is not said twice', () => {
  const err = new OmlmdError('NETWORK', 'x did not accept a connection in time', { remedies: [{ kind: 'check-network', host: 'x' }, { kind: 'raise-timeout', timeout: 'connect', host: 'x' }] });
  assert.equal(formatError(err, false), 'omlmd: error: x did not accept a connection in time\n  hint: check the network and proxy settings (HTTPS_PROXY, NO_PROXY), or raise --connect-timeout');
});

test('CLI: codes map to exit codes; cancel and internal errors have their own lines', () => {
  const cases: [OmlmdError, number][] = [
    [new OmlmdError('USAGE', 'u'), ExitCode.usage],
    [new OmlmdError('MANIFEST_UNKNOWN', 'm', { operation: { verb: 'fetch-manifest', target: 'h/r', ref: 'v9' } }), ExitCode.notFound],
    [new OmlmdError('DIGEST_MISMATCH', 'd'), ExitCode.integrity],
    [new OmlmdError('VERIFICATION_FAILED', 'v'), ExitCode.integrity],
    [new OmlmdError('INVALID_MODEL_FILE', 'a safetensors header length of 2^60', { operation: { verb: 'read-file', target: 'm.safetensors' } }), ExitCode.integrity],
    [new OmlmdError('TOOMANYREQUESTS', 't', { remedies: [{ kind: 'wait', seconds: 2 }] }), ExitCode.network],
    [new OmlmdError('HTTP', 'h'), ExitCode.failure],
    [new OmlmdError('CANCELLED', 'cancelled'), ExitCode.cancelled],
  ];
  for (const [e, code] of cases) assert.equal(exitCodeFor(e), code, e.code);
  assert.equal(formatError(cases[1]![0], false), 'omlmd: error: cannot fetch manifest v9 from h/r: m');
  assert.equal(formatError(new OmlmdError('CANCELLED', 'cancelled'), false), 'omlmd: cancelled');
  assert.equal(formatError(new Error('boom'), false), 'omlmd: internal error: boom\n  (run with --debug for details; please report it)');
  assert.equal(exitCodeFor(new Error('boom')), ExitCode.failure);
  assert.match(formatError(new OmlmdError('HTTP', 'h', { status: 502, url: 'https://r/v2/' }), true), /code: HTTP, HTTP 502 https:\/\/r\/v2\//);
});
