import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { TrustPolicy } from '../../core/trust/policy';

export const POLICY_ENV = 'OMLMD_POLICY';

/** The trust policy of `--policy FILE`, else OMLMD_POLICY, else none (the policy code loads only when there is one). */
export async function policyFrom(o: { policy?: string }): Promise<TrustPolicy | undefined> {
  const path = o.policy ?? (process.env[POLICY_ENV] || undefined);
  if (!path) return undefined;
  const { loadPolicy } = await import('../../core/trust/policy');
  return loadPolicy(resolve(path));
}

/** Adds `--policy FILE`. */
export function withPolicy(cmd: Command): Command {
  return cmd.option('--policy <file>', `enforce this trust policy (YAML; also ${POLICY_ENV}): allowed registries, who must have signed; checked before anything is written`);
}
