/**
 * Trust commands: `sign` (a model signature as a Sigstore bundle referrer), `attest` (any
 * in-toto predicate, the same way), `verify` (from the registry without the weights, a
 * pulled folder against its model.sig, or the ModelCar chain image → provenance → model →
 * signature). The key and trust flags are shared with `modelcar build` and `pull`.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import {
  attest, CertificateSigner, describeSigner, KeySigner, loadCertificates, loadPrivateKey, loadPublicKeys, MODEL_SIGNATURE_PREDICATE, signModel, verifyAttestation,
  verifyImageChain, verifyModel, verifyModelDirectory, type ChainLink, type Signer, type TrustRoot,
} from '../../core/trust';
import { client, controller, example, print, readStdinOnce, withCommon, type Common } from '../context';

export { POLICY_ENV, policyFrom, withPolicy } from './policy';
export const PASSPHRASE_ENV = 'OMLMD_SIGNING_PASSPHRASE';

export interface SignerFlags {
  passphraseStdin?: boolean;
  passwordStdin?: boolean;
}

/** The signer for a key file (and certificate): the passphrase from stdin or OMLMD_SIGNING_PASSPHRASE, never an argument. */
export async function signerFrom(key: string, cert: string | undefined, chain: string | undefined, o: SignerFlags): Promise<Signer> {
  if (o.passphraseStdin && o.passwordStdin) throw new OmlmdError('USAGE', '--passphrase-stdin and --password-stdin both read standard input: give the passphrase in OMLMD_SIGNING_PASSPHRASE instead');
  if (chain && !cert) throw new OmlmdError('USAGE', '--chain goes with --cert (the signing certificate it leads to)');
  let passphrase = process.env[PASSPHRASE_ENV];
  if (o.passphraseStdin) {
    passphrase = await readStdinOnce();
    if (passphrase === '') throw new OmlmdError('USAGE', '--passphrase-stdin: standard input held no passphrase');
  }
  const k = await loadPrivateKey(resolve(key), passphrase);
  return cert ? CertificateSigner.create(k, resolve(cert), chain ? resolve(chain) : undefined) : new KeySigner(k);
}

/** What to trust: `--key PUB.pem` or `--ca CA.pem [--cert-identity ID]`. */
export async function trustFrom(key: string | undefined, ca: string | undefined, identity: string | undefined, flags = { key: '--key', ca: '--ca' }): Promise<TrustRoot> {
  if (key && ca) throw new OmlmdError('USAGE', `give ${flags.key} or ${flags.ca}, not both`);
  if (identity !== undefined && !ca) throw new OmlmdError('USAGE', `--cert-identity goes with ${flags.ca} (it names whom the certificate must be for)`);
  if (key) return { kind: 'keys', keys: await loadPublicKeys(resolve(key)), source: key };
  if (ca) return { kind: 'ca', certificates: await loadCertificates(resolve(ca), 'the CA certificates'), identity, source: ca };
  throw new OmlmdError('USAGE', `nothing to verify with: give ${flags.key} PUB.pem or ${flags.ca} CA.pem`);
}

/** The chain as a tree, one link under the other. */
export function drawChain(links: ChainLink[]): string[] {
  return links.map((l, i) => {
    const text = `${l.kind} ${l.reference}${l.detail ? `  ${l.detail}` : ''}${l.signer ? `  (signed by ${l.signer})` : ''}`;
    return i === 0 ? text : `${'    '.repeat(i - 1)}└── ${text}`;
  });
}

interface SignOpts extends Common {
  key: string;
  cert?: string;
  chain?: string;
  passphraseStdin?: boolean;
}

function withSigning(cmd: Command): Command {
  return cmd.requiredOption('--key <pem>', 'the signing key: ECDSA P-256 or Ed25519, PKCS#8 PEM (encrypted: passphrase from --passphrase-stdin or OMLMD_SIGNING_PASSPHRASE)')
    .option('--cert <pem>', 'sign with this X.509 signing certificate (for --key) from a private CA')
    .option('--chain <pem>', 'with --cert: the intermediate and root certificates it chains up to (checked now)')
    .option('--passphrase-stdin', 'read the signing key\'s passphrase from standard input');
}

export function registerTrust(program: Command): void {
  example(withSigning(withCommon(program.command('sign')))
    .description('sign a model: a Sigstore bundle (DSSE, in-toto, model-signing\'s predicate listing every file with its digest) pushed as a referrer of the model; nothing is downloaded')
    .argument('<target>', 'the model: HOST/REPO:TAG, HOST/REPO@DIGEST, oci:PATH:TAG or REPO:TAG')
    .action(async (target: string, o: SignOpts) => {
      const signer = await signerFrom(o.key, o.cert, o.chain, o);
      const res = await signModel(client(o), target, signer, { signal: controller.signal });
      if (o.json) print(JSON.stringify({ reference: res.reference, digest: res.digest, signature: res.signature.digest, predicateType: res.predicateType, signer: res.signer, source: res.source, files: res.files }, null, 2));
      else print(`Signed ${res.reference}\n  by ${res.signer}; ${res.files?.length ?? 0} file${(res.files?.length ?? 0) === 1 ? '' : 's'}\n  signature ${res.signature.digest} (${res.source === 'api' ? 'referrers API' : 'referrers tag schema'})`);
    }), 'omlmd sign localhost:5000/models/mnist:v1 --key signing.key');

  example(withSigning(withCommon(program.command('attest')))
    .description('attest anything about an artifact (an evaluation report, an SBOM, a dataset card): an in-toto statement with this predicate, signed and attached as a referrer')
    .argument('<target>', 'the artifact')
    .requiredOption('--predicate <file>', 'the predicate: a JSON object')
    .requiredOption('--type <uri>', 'the predicate type, a URI (e.g. https://spdx.dev/Document)')
    .action(async (target: string, o: SignOpts & { predicate: string; type: string }) => {
      let predicate: unknown;
      try {
        predicate = JSON.parse(await readFile(resolve(o.predicate), 'utf8'));
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new OmlmdError('NOT_FOUND', `--predicate: ${o.predicate} does not exist`);
        throw new OmlmdError('USAGE', `--predicate: ${o.predicate} is not JSON`);
      }
      const signer = await signerFrom(o.key, o.cert, o.chain, o);
      const res = await attest(client(o), target, o.type, predicate, signer, { signal: controller.signal });
      if (o.json) print(JSON.stringify({ reference: res.reference, digest: res.digest, attestation: res.signature.digest, predicateType: res.predicateType, signer: res.signer, source: res.source }, null, 2));
      else print(`Attested ${res.predicateType} about ${res.reference}\n  by ${res.signer}\n  attestation ${res.signature.digest}`);
    }), 'omlmd attest localhost:5000/models/mnist:v1 --predicate eval.json --type https://example.com/eval/v1 --key signing.key');

  example(withCommon(program.command('verify'))
    .description('verify a model\'s signature from the registry (manifest and signature only, no weights), a pulled folder against its model.sig (--path), or a ModelCar image\'s chain back to the signed model (--chain); exit 5 names the check that failed')
    .argument('[target]', 'the model (or with --chain the image)')
    .option('--key <pem>', 'the public key(s) to trust (PEM)')
    .option('--ca <pem>', 'the CA certificates to trust (root and intermediates, PEM)')
    .option('--cert-identity <id>', 'with --ca: the email, URI or DNS name (or CN) the signing certificate must name')
    .option('--path <dir>', 'verify a pulled folder file by file against its model.sig')
    .option('--chain', 'the target is a ModelCar image: verify image → provenance → model → model signature')
    .option('--type <uri>', 'verify an attestation of this predicate type instead of the model signature')
    .action(async (target: string | undefined, o: Common & { key?: string; ca?: string; certIdentity?: string; path?: string; chain?: boolean; type?: string }) => {
      const trust = await trustFrom(o.key, o.ca, o.certIdentity);
      if (o.path) {
        if (target || o.chain) throw new OmlmdError('USAGE', '--path verifies a folder: give no reference and no --chain with it');
        const res = await verifyModelDirectory(resolve(o.path), trust);
        if (o.json) print(JSON.stringify({ path: res.dir, verified: true, signer: res.signer, digest: res.digest, files: res.files }, null, 2));
        else print(`Verified ${res.dir}: ${res.files.length} file${res.files.length === 1 ? '' : 's'} match${res.files.length === 1 ? 'es' : ''} model.sig, signed by ${describeSigner(res.signer)}${res.digest ? ` for ${res.digest}` : ''}`);
        return;
      }
      if (!target) throw new OmlmdError('USAGE', 'name what to verify (a reference), or a folder with --path');
      const c = client(o);
      if (o.chain) {
        const links = await verifyImageChain(c, target, trust, { signal: controller.signal });
        print(o.json ? JSON.stringify({ verified: true, chain: links }, null, 2) : ['Verified the chain:', ...drawChain(links).map((l) => `  ${l}`)].join('\n'));
        return;
      }
      if (o.type && o.type !== MODEL_SIGNATURE_PREDICATE) {
        const res = await verifyAttestation(c, target, o.type, trust, { signal: controller.signal });
        print(o.json ? JSON.stringify({ reference: res.reference, verified: true, attestation: res.signature.digest, signer: res.signer, statement: res.statement }, null, 2) : `Verified the ${o.type} attestation of ${res.reference}, signed by ${describeSigner(res.signer)}`);
        return;
      }
      const res = await verifyModel(c, target, trust, { signal: controller.signal });
      if (o.json) print(JSON.stringify({ reference: res.reference, verified: true, digest: res.digest, signature: res.signature.digest, signer: res.signer, files: res.files, source: res.source }, null, 2));
      else print(`Verified ${res.reference}\n  signed by ${describeSigner(res.signer)}; ${res.files.length} file${res.files.length === 1 ? '' : 's'}, each a layer with the signed digest\n  signature ${res.signature.digest}`);
    }), 'omlmd verify localhost:5000/models/mnist:v1 --key signing.pub');
}
