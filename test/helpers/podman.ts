import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface PrivatePodman {
  /** The environment for podman and for the CLI (OMLMD_HOME in `work`, podman's configuration files). */
  env: NodeJS.ProcessEnv;
  podman(args: string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Removes every image, container and layer of this podman's storage (for after()). */
  reset(): Promise<void>;
}

/**
 * podman with its storage, run root and configuration inside `work` (the machine's own
 * podman storage is never touched), runc and cgroupfs as ../shared/docs/runtimes.md measured
 * working here, and `registryHost` allowed over plain HTTP.
 */
export function privatePodman(work: string, registryHost: string): PrivatePodman {
  writeFileSync(join(work, 'containers.conf'), '[containers]\ndefault_ulimits = []\n');
  writeFileSync(join(work, 'registries.conf'), `[[registry]]\nlocation = "${registryHost}"\ninsecure = true\n`);
  const env = { ...process.env, OMLMD_HOME: join(work, 'home'), CONTAINERS_CONF: join(work, 'containers.conf'), CONTAINERS_REGISTRIES_CONF: join(work, 'registries.conf') };
  const pm = ['--root', join(work, 'storage'), '--runroot', join(work, 'run'), '--cgroup-manager=cgroupfs'];
  const podman = (args: string[]) => new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn('podman', [...pm, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
  return { env, podman, reset: async () => void (await podman(['system', 'reset', '--force']).catch(() => undefined)) };
}
