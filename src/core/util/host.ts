/**
 * Registry host names, one normaliser: how a host is written in settings, Docker config
 * keys, credential stores and references all compare the same way.
 */

const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_ALIASES: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io', 'registry.hub.docker.com']);

/**
 * `https://Quay.io/v2/` → `quay.io`, `https://index.docker.io/v1/` → `docker.io`,
 * ` localhost:5000 ` → `localhost:5000`: scheme, path and case dropped, Docker Hub's aliases
 * folded into `docker.io`.
 */
export function normalizeHost(host: string): string {
  const h = host.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '').toLowerCase();
  return DOCKER_HUB_ALIASES.has(h) ? DOCKER_HUB : h;
}

/** Whether two ways of writing a registry name the same one. */
export function sameHost(a: string, b: string): boolean {
  return normalizeHost(a) === normalizeHost(b);
}

/** Where the registry's API lives: Docker Hub's is not at the name people write. */
export function apiHost(registry: string): string {
  return normalizeHost(registry) === DOCKER_HUB ? 'registry-1.docker.io' : registry;
}

export function isDockerHub(host: string): boolean {
  return normalizeHost(host) === DOCKER_HUB;
}
