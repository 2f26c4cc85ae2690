import type { Command } from 'commander';
import { registerCache } from './cache';
import { registerLineage } from './lineage';
import { registerLogin } from './login';
import { registerSearch } from './search';

/**
 * Command groups that live in modules of their own (login, query, serve, attach, ...). Each
 * adds its commands to the program; main.ts keeps the omlmd 0.1.x core commands.
 */
export const COMMAND_MODULES: ((program: Command) => void)[] = [registerLogin, registerSearch, registerLineage, registerCache];
