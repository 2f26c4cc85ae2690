/**
 * Signing material made with openssl for the trust tests: Ed25519 and ECDSA P-256 keys
 * (PKCS#8 PEM), an encrypted P-256 key, a key nobody trusts, a small CA with an intermediate
 * and code-signing leaf certificates (one valid, one expired, one from another CA).
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './tmp';

const exec = promisify(execFile);

export interface SigningKit {
  dir: string;
  ed25519: { key: string; pub: string };
  p256: { key: string; pub: string };
  /** PKCS#8 encrypted with `passphrase`. */
  encrypted: { key: string; pub: string; passphrase: string };
  other: { key: string; pub: string };
  /** Root CA (self-signed), intermediate (signed by the root), both in `caBundle`. */
  rootCert: string;
  intermediateCert: string;
  caBundle: string;
  /** A code-signing leaf issued by the intermediate, for `leaf.key`; identity ml-team@example.com. */
  leaf: { key: string; cert: string; identity: string };
  /** The same key, a certificate that expired. */
  expired: { key: string; cert: string };
  /** Another CA and a leaf it issued. */
  otherCaCert: string;
  otherLeaf: { key: string; cert: string };
}

async function openssl(args: string[], cwd: string): Promise<void> {
  await exec('openssl', args, { cwd });
}

export async function makeSigningKit(): Promise<SigningKit> {
  const dir = tempDir('omlmd-signing-');
  const p = (f: string): string => join(dir, f);
  const ec = ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const pub = async (key: string, out: string, extra: string[] = []): Promise<void> => openssl(['pkey', '-in', key, ...extra, '-pubout', '-out', out], dir);
  await openssl(['genpkey', '-algorithm', 'ed25519', '-out', 'ed.key'], dir);
  await pub('ed.key', 'ed.pub');
  await openssl([...ec, '-out', 'p256.key'], dir);
  await pub('p256.key', 'p256.pub');
  await openssl([...ec, '-aes-256-cbc', '-pass', 'pass:correct horse', '-out', 'enc.key'], dir);
  await pub('enc.key', 'enc.pub', ['-passin', 'pass:correct horse']);
  await openssl(['genpkey', '-algorithm', 'ed25519', '-out', 'other.key'], dir);
  await pub('other.key', 'other.pub');

  const caExt = ['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'];
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3', '-keyout', 'root.key', '-out', 'root.crt', '-subj', '/CN=omlmd test signing root', ...caExt], dir);
  await writeFile(p('inter.ext'), 'basicConstraints=critical,CA:TRUE,pathlen:0\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n');
  await openssl([...ec, '-out', 'inter.key'], dir);
  await openssl(['req', '-new', '-key', 'inter.key', '-subj', '/CN=omlmd test signing intermediate', '-out', 'inter.csr'], dir);
  await openssl(['x509', '-req', '-in', 'inter.csr', '-CA', 'root.crt', '-CAkey', 'root.key', '-CAcreateserial', '-days', '3', '-extfile', 'inter.ext', '-out', 'inter.crt'], dir);
  await writeFile(p('leaf.ext'), 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\nsubjectAltName=email:ml-team@example.com\n');
  await openssl([...ec, '-out', 'leaf.key'], dir);
  await openssl(['req', '-new', '-key', 'leaf.key', '-subj', '/CN=ML team/O=Example', '-out', 'leaf.csr'], dir);
  await openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.crt', '-CAkey', 'inter.key', '-CAcreateserial', '-days', '2', '-extfile', 'leaf.ext', '-out', 'leaf.crt'], dir);
  // -days -1: not after is a day before not before, so the certificate is expired from the start.
  await openssl(['x509', '-req', '-in', 'leaf.csr', '-CA', 'inter.crt', '-CAkey', 'inter.key', '-CAcreateserial', '-days', '-1', '-extfile', 'leaf.ext', '-out', 'expired.crt'], dir);
  await openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '3', '-keyout', 'oca.key', '-out', 'oca.crt', '-subj', '/CN=some other signing CA', ...caExt], dir);
  await openssl([...ec, '-out', 'oleaf.key'], dir);
  await openssl(['req', '-new', '-key', 'oleaf.key', '-subj', '/CN=somebody else', '-out', 'oleaf.csr'], dir);
  await openssl(['x509', '-req', '-in', 'oleaf.csr', '-CA', 'oca.crt', '-CAkey', 'oca.key', '-CAcreateserial', '-days', '2', '-extfile', 'leaf.ext', '-out', 'oleaf.crt'], dir);
  await writeFile(p('ca-bundle.pem'), Buffer.concat([await readFile(p('inter.crt')), await readFile(p('root.crt'))]));
  return {
    dir,
    ed25519: { key: p('ed.key'), pub: p('ed.pub') },
    p256: { key: p('p256.key'), pub: p('p256.pub') },
    encrypted: { key: p('enc.key'), pub: p('enc.pub'), passphrase: 'correct horse' },
    other: { key: p('other.key'), pub: p('other.pub') },
    rootCert: p('root.crt'),
    intermediateCert: p('inter.crt'),
    caBundle: p('ca-bundle.pem'),
    leaf: { key: p('leaf.key'), cert: p('leaf.crt'), identity: 'ml-team@example.com' },
    expired: { key: p('leaf.key'), cert: p('expired.crt') },
    otherCaCert: p('oca.crt'),
    otherLeaf: { key: p('oleaf.key'), cert: p('oleaf.crt') },
  };
}
