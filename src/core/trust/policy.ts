/**
 * The trust policy: one YAML (or JSON) file, validated by policy.schema.json, saying which
 * registries models may come from and, per host/repository glob (picomatch), which keys or
 * CAs must have signed them. `enforcePolicy` runs before anything is written: it verifies
 * the model and answers with the verified digest, so the caller pulls exactly what was
 * checked (and the pull checks every blob against that manifest).
 */
import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import Ajv from 'ajv';
import picomatch from 'picomatch';
import { parse as parseYaml } from 'yaml';
import { OmlmdClient, type Target } from '../client';
import { OmlmdError } from '../errors';
import { formatReference, type Reference } from '../oci/reference';
import type { CallOptions } from '../oci/store';
import type { TrustRoot } from './bundle';
import { loadCertificates, loadPublicKeys } from './keys';
import schema from './policy.schema.json';
import { verifyModel } from './api';
import type { ModelVerification } from './verify';

export const policySchema = schema;

export interface PolicyRule {
  match: string;
  require: ({ key: string } | { ca: string; identity?: string })[];
}

export interface TrustPolicyDocument {
  version: 1;
  registries?: string[];
  rules: PolicyRule[];
}

export interface TrustPolicy {
  /** Where it was read from. */
  source: string;
  document: TrustPolicyDocument;
  /** Trust roots per rule, in rule order. */
  roots: TrustRoot[][];
}

let validator: ReturnType<Ajv['compile']> | undefined;

/** Parses and checks a policy document; `source` names the file in messages, `baseDir` resolves its key paths. */
export async function parsePolicy(text: string, source: string, baseDir: string): Promise<TrustPolicy> {
  let doc: unknown;
  try {
    // maxAliasCount: an alias bomb is refused, not expanded.
    doc = parseYaml(text, { maxAliasCount: 100 });
  } catch (e) {
    throw new OmlmdError('USAGE', `the trust policy ${source} is not YAML: ${(e as Error).message.split('\n')[0]}`, { cause: e });
  }
  validator ??= new Ajv({ allErrors: true, strict: true }).compile(schema);
  if (!validator(doc)) {
    const first = validator.errors?.[0];
    throw new OmlmdError('USAGE', `the trust policy ${source} is not valid: ${first ? `${first.instancePath || 'the top level'} ${first.message}` : 'it does not match the schema'}`, {
      remedies: [{ kind: 'say', text: 'see docs/trust.md for the policy format (version: 1, registries, rules with match and require)' }],
    });
  }
  const document = doc as TrustPolicyDocument;
  const path = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const roots: TrustRoot[][] = [];
  for (const rule of document.rules) {
    const list: TrustRoot[] = [];
    for (const r of rule.require) {
      if ('key' in r) list.push({ kind: 'keys', keys: await loadPublicKeys(path(r.key)), source: r.key });
      else list.push({ kind: 'ca', certificates: await loadCertificates(path(r.ca), 'the CA certificates'), identity: r.identity, source: r.ca });
    }
    roots.push(list);
  }
  return { source, document, roots };
}

/** Reads a policy file. */
export async function loadPolicy(path: string): Promise<TrustPolicy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new OmlmdError('NOT_FOUND', `cannot read the trust policy ${path}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`, {
      cause: e, remedies: [{ kind: 'check-file', path, setting: 'file' }],
    });
  }
  return parsePolicy(text, path, dirname(resolve(path)));
}

/** How a policy names a reference: `host/repository` for a registry, the formatted repository otherwise. */
function policyName(ref: Reference): string {
  return ref.kind === 'registry' ? `${ref.registry}/${ref.repository}` : formatReference({ ...ref, tag: undefined, digest: undefined });
}

export interface PolicyDecision {
  /** The reference, pinned to the verified digest when a signature was required. */
  reference: Reference;
  rule: string;
  verified?: ModelVerification;
}

/** Whether a registry may be used at all under the policy (a refusal names it). */
export function checkRegistryAllowed(policy: TrustPolicy, ref: Reference): void {
  const allowed = policy.document.registries;
  if (ref.kind !== 'registry' || allowed === undefined) return;
  if (!allowed.some((g) => picomatch.isMatch(ref.registry, g, { nocase: true }))) {
    throw new OmlmdError('VERIFICATION_FAILED', `registry not allowed: the trust policy ${policy.source} allows models only from ${allowed.join(', ')}, not ${ref.registry}`);
  }
}

/**
 * Applies the policy to a model about to be pulled, copied or served: the registry must be
 * allowed, a rule must cover it, and when that rule requires signers one of them must have
 * signed the manifest the reference resolves to. Nothing is written here.
 */
export async function enforcePolicy(client: OmlmdClient, target: Target, policy: TrustPolicy, opts: CallOptions = {}): Promise<PolicyDecision> {
  const ref = OmlmdClient.parse(target);
  checkRegistryAllowed(policy, ref);
  const name = policyName(ref);
  const at = policy.document.rules.findIndex((r) => picomatch.isMatch(name, r.match, { dot: true }));
  if (at < 0) throw new OmlmdError('VERIFICATION_FAILED', `not covered: no rule of the trust policy ${policy.source} matches ${name}`);
  const rule = policy.document.rules[at]!;
  const roots = policy.roots[at]!;
  if (roots.length === 0) return { reference: ref, rule: rule.match };
  let firstFailure: OmlmdError | undefined;
  for (const trust of roots) {
    try {
      const verified = await verifyModel(client, ref, trust, opts);
      return { reference: { ...ref, digest: verified.digest }, rule: rule.match, verified };
    } catch (e) {
      if (!OmlmdError.is(e, 'VERIFICATION_FAILED')) throw e;
      firstFailure ??= e;
    }
  }
  throw new OmlmdError('VERIFICATION_FAILED', `refused by the trust policy ${policy.source} (rule ${rule.match}): ${firstFailure!.problem}`, { remedies: [...firstFailure!.remedies] });
}
