import type { Command } from 'commander';

/** One command group: the command names (and aliases) it adds, and its module, loaded only when needed. */
export interface CommandModule {
  names: readonly string[];
  load: () => Promise<(program: Command) => void>;
}

/**
 * Every command group, in the order `omlmd --help` lists them: the omlmd 0.1.x core
 * commands first (push, pull, get, crawl, metadata, inspect, copy, tags, tag, repos, list),
 * then login, query and serve, lineage, trust (sign, attest, verify), cache. Each module adds
 * its commands to the program. The modules are dynamic imports (the CLI bundle splits at
 * them), so `omlmd push` parses and runs only what a push needs: never the search index,
 * PostgreSQL, the server, lineage or Sigstore (test/unit/cli-lazy.test.ts checks the bundle).
 */
export const COMMAND_MODULES: readonly CommandModule[] = [
  { names: ['push'], load: async () => (await import('./push')).registerPush },
  { names: ['pull'], load: async () => (await import('./pull')).registerPull },
  { names: ['get'], load: async () => (await import('./inspect')).registerGet },
  { names: ['crawl'], load: async () => (await import('./crawl')).registerCrawl },
  { names: ['metadata', 'inspect'], load: async () => (await import('./inspect')).registerInspect },
  { names: ['copy', 'cp'], load: async () => (await import('./copy')).registerCopy },
  { names: ['tags', 'tag'], load: async () => (await import('./tags')).registerTags },
  { names: ['repos', 'list', 'ls'], load: async () => (await import('./repos')).registerRepos },
  { names: ['login', 'logout'], load: async () => (await import('./login')).registerLogin },
  { names: ['query', 'serve'], load: async () => (await import('./search')).registerSearch },
  { names: ['attach', 'discover', 'detach', 'modelcar', 'model-card', 'storage-initializer'], load: async () => (await import('./lineage')).registerLineage },
  { names: ['sign', 'attest', 'verify'], load: async () => (await import('./trust')).registerTrust },
  { names: ['cache'], load: async () => (await import('./cache')).registerCache },
];

/**
 * The command groups a command line needs: none for `omlmd --version`, the one that owns
 * the named command, and every group when there is none to name (help, no command, an
 * unknown command: the help lists them all and a typo gets its suggestion).
 */
export function modulesFor(args: readonly string[]): readonly CommandModule[] {
  const name = args.find((a) => !a.startsWith('-'));
  if (name === undefined && (args.includes('-V') || args.includes('--version'))) return [];
  const own = name === undefined ? undefined : COMMAND_MODULES.find((m) => m.names.includes(name));
  return own ? [own] : COMMAND_MODULES;
}
