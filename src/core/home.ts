import { homedir } from 'node:os';
import { join } from 'node:path';

/**
 * The local data directory: the embedded store, caches and the index. `OMLMD_HOME` wins;
 * otherwise the platform's per-user data directory.
 */
export function omlmdHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.OMLMD_HOME) return env.OMLMD_HOME;
  const home = env.HOME || homedir();
  if (platform === 'win32') return join(env.LOCALAPPDATA || join(home, 'AppData', 'Local'), 'omlmd');
  if (platform === 'darwin') return join(home, 'Library', 'Application Support', 'omlmd');
  return join(env.XDG_DATA_HOME || join(home, '.local', 'share'), 'omlmd');
}

/** The embedded store: one OCI image layout shared by all local repositories. */
export function localStorePath(home: string): string {
  return join(home, 'store');
}
