import type { Command } from 'commander';
import { registerCache } from './cache';
import { registerCopy } from './copy';
import { registerCrawl } from './crawl';
import { registerGet, registerInspect } from './inspect';
import { registerLineage } from './lineage';
import { registerLogin } from './login';
import { registerPull } from './pull';
import { registerPush } from './push';
import { registerRepos } from './repos';
import { registerSearch } from './search';
import { registerTags } from './tags';
import { registerTrust } from './trust';

/**
 * Every command group, in the order `omlmd --help` lists them: the omlmd 0.1.x core
 * commands first (push, pull, get, crawl, metadata, inspect, copy, tags, tag, repos, list),
 * then login, query and serve, lineage, trust (sign, attest, verify), cache. Each module adds its commands to the program.
 */
export const COMMAND_MODULES: ((program: Command) => void)[] = [
  registerPush, registerPull, registerGet, registerCrawl, registerInspect, registerCopy, registerTags, registerRepos,
  registerLogin, registerSearch, registerLineage, registerTrust, registerCache,
];
