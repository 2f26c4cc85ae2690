import type { Remedy } from '../core/errors';

function checkFile(r: Extract<Remedy, { kind: 'check-file' }>): string {
  switch (r.setting) {
    case 'caFile': return 'check the path given to --ca-file';
    case 'certFile': return 'check the path given to --cert-file';
    case 'keyFile': return 'check the path given to --key-file';
    case 'metadata': return 'check the path given to -m';
    case 'config': return `check the config file ${r.path} (or point OMLMD_CONFIG at another)`;
    case 'dockerConfig': return `check the Docker config file ${r.path} (or point DOCKER_CONFIG at another folder)`;
    case 'layout': return `check the path; a layout is a directory with oci-layout, index.json and blobs/ (skopeo copy ... oci:${r.path}:TAG writes one)`;
    case 'file': return `check the path ${r.path}`;
  }
}

/** One remedy in the CLI's words: its flags, its commands and its config file. */
export function cliRemedy(r: Remedy): string {
  switch (r.kind) {
    case 'start-registry': return `is the registry running at ${r.origin}?`;
    case 'check-host-name': return `check the registry host name ${r.host}`;
    case 'check-network': return 'check the network and proxy settings (HTTPS_PROXY, NO_PROXY), or raise --connect-timeout';
    case 'raise-timeout': return r.timeout === 'read' ? 'try again, or raise --read-timeout for a slow registry' : 'raise --connect-timeout for a slow registry';
    case 'trust-ca': return `pass --ca-file with the certificate of the authority that signed it (or set caFile for ${r.host} in the config file); --insecure skips the check (unsafe)`;
    case 'certificate-name': return 'use the host name the certificate was issued for; --insecure skips the check (unsafe)';
    case 'check-clock': return 'check the clock of this machine, or ask the registry operator to renew the certificate';
    case 'client-certificate': return `pass --cert-file and --key-file (or set certFile and keyFile for ${r.host} in the config file)`;
    case 'use-plain-http': return `pass --plain-http for a plain-HTTP registry (or set plainHttp: true for ${r.host} in the config file)`;
    case 'use-https': return `${r.host} speaks HTTPS: drop --plain-http (for a loopback registry, set plainHttp: false for it in the config file, or pass --ca-file)`;
    case 'sign-in': return r.again ? `check the credentials for ${r.registry} (omlmd login ${r.registry})` : `run omlmd login ${r.registry}`;
    case 'check-access': return `check that the account used for ${r.registry} may ${r.write ? 'push to' : 'read'} ${r.repository ?? 'this repository'}`;
    case 'wait': return r.seconds !== undefined ? `the registry asks to wait ${Math.ceil(r.seconds)} s before trying again` : 'wait a while and try again';
    case 'try-later': return `${r.registry} is failing (HTTP ${r.status}); try again later`;
    case 'check-file': return checkFile(r);
    case 'give-cert-and-key': return 'pass both --cert-file and --key-file';
    case 'delete-by-digest': return `to remove the manifest with all its tags, delete ${r.reference}`;
    case 'pull-one-of': return `pull one of them: --include ${JSON.stringify(r.paths[0] ?? '')} (or -m MEDIA_TYPE)`;
    case 'give-files-or-uri': return 'give model files or folders, or set uri (--uri s3://bucket/model) for a metadata-only artifact';
    case 'follow-symlinks': return `remove the link or give ${r.target} as a path of its own; pass --follow-symlinks to push what links point to`;
    case 'enable-deletes': return `enable storage.delete on ${r.registry} (deletes are off in its configuration)`;
    case 'log-in-again': return `log in again: omlmd login ${r.registry}`;
    case 'inspect-artifact': return 'use `omlmd inspect` to see what it is, or `omlmd pull` to fetch its files';
    case 'check-encryption-recipient': return `check --encrypt-recipient ${r.recipient}: jwe:PUBLIC-KEY.pem (an RSA or EC key) or provider:NAME[:PARAM] configured in OCICRYPT_KEYPROVIDER_CONFIG`;
    case 'give-decryption-key': return 'pass --decryption-key PRIVATE.pem with the key of one of its recipients (or name key files in OMLMD_DECRYPTION_KEYS)';
    case 'metadata-as-metadata': return 'pass metadata with -m FILE instead of as a model file';
    case 'name-a-tag': return `name a tag, e.g. ${r.example}`;
    case 'choose-base-image': return 'name a runnable image with sh, ln and sleep (busybox, ubi-micro, ...), or leave out --base';
    case 'give-base-image': return 'or pass --base IMAGE';
    case 'remove-stale-lock': return `if no other omlmd process is using it, delete ${r.path}`;
    case 'server-token': return `pass the token of ${r.server} (OMLMD_SERVER_TOKEN)`;
    case 'say': return r.text;
    default: {
      const never: never = r;
      return String((never as { kind: string }).kind);
    }
  }
}

/**
 * The CLI's hint lines for an error's remedies, one a remedy. Two pairs read as one line, as
 * they always have: a TLS failure that may be plain HTTP or a private authority, and a
 * connect timeout that the network advice already names.
 */
export function cliRemedyLines(remedies: readonly Remedy[]): string[] {
  const has = (kind: Remedy['kind']): boolean => remedies.some((r) => r.kind === kind);
  const lines: string[] = [];
  for (const r of remedies) {
    if (r.kind === 'use-plain-http' && has('trust-ca')) {
      lines.push('pass --plain-http for a plain-HTTP registry, or --ca-file for a registry with a private certificate authority');
      continue;
    }
    if (r.kind === 'trust-ca' && has('use-plain-http')) continue;
    if (r.kind === 'raise-timeout' && r.timeout === 'connect' && has('check-network')) continue;
    lines.push(cliRemedy(r));
  }
  return lines;
}
