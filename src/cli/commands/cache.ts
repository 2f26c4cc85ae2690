import type { Command } from 'commander';
import { OmlmdClient } from '../../core/client';
import { OmlmdError } from '../../core/errors';
import { DEFAULT_PRUNE_DAYS } from '../../core/transfer/cache';
import { example, print, type Common } from '../context';
import { humanSize } from '../output';

type CacheOpts = Common & { olderThan?: string };

function days(arg: string | undefined): number | undefined {
  if (arg === undefined) return undefined;
  const m = /^(\d+)d?$/.exec(arg.trim());
  if (!m) throw new OmlmdError('USAGE', `--older-than ${JSON.stringify(arg)} is not a number of days`, { remedies: [{ kind: 'say', text: 'e.g. --older-than 7d' }] });
  return Number(m[1]);
}

/** `omlmd cache info|prune|clear`: what transfers remember under $OMLMD_HOME/cache. */
export function registerCache(program: Command): void {
  const cache = program.command('cache').description('what transfers remember between runs (file digests, where blobs are, open uploads) under $OMLMD_HOME/cache');
  const transferCache = (): ReturnType<OmlmdClient['transferCache']> => new OmlmdClient().transferCache();

  example(cache.command('info')
    .description('show where the cache is, its entries and its size')
    .option('--json', 'print machine-readable JSON')
    .action(async (o: CacheOpts) => {
      const u = await transferCache().usage();
      if (o.json) return print(JSON.stringify(u));
      const rows: [string, string][] = [
        ['file digests', String(u.entries.digests)],
        ['where blobs are', String(u.entries.blobs)],
        ['open upload sessions', String(u.entries.uploads)],
        ['encrypted layers', String(u.entries.encrypted)],
        ['size', humanSize(u.bytes)],
      ];
      const width = Math.max(...rows.map(([k]) => k.length)) + 1;
      print([u.dir, ...rows.map(([k, v]) => `  ${`${k}:`.padEnd(width)} ${v}`)].join('\n'));
    }), 'omlmd cache info');

  example(cache.command('prune')
    .description(`drop what can no longer help: digests of files that changed or are gone, where-blobs-are entries unused for ${DEFAULT_PRUNE_DAYS} days, upload sessions older than a week (transfers do this once a day on their own)`)
    .option('--older-than <days>', `forget where-blobs-are entries and upload sessions unused this long (default ${DEFAULT_PRUNE_DAYS}d)`)
    .option('--json', 'print machine-readable JSON')
    .action(async (o: CacheOpts) => {
      const r = await transferCache().prune({ olderThanDays: days(o.olderThan) });
      if (o.json) return print(JSON.stringify(r));
      const n = r.removed.digests + r.removed.blobs + r.removed.uploads;
      print(`Removed ${n} entr${n === 1 ? 'y' : 'ies'} (${r.removed.digests} file digests, ${r.removed.blobs} where-blobs-are, ${r.removed.uploads} upload sessions)${r.strays ? ` and ${r.strays} unfinished temporary files` : ''}; ${r.kept} kept`);
    }), 'omlmd cache prune --older-than 7d');

  example(cache.command('clear')
    .description('remove the whole cache: the next push of each file reads and hashes it again')
    .option('--json', 'print machine-readable JSON')
    .action(async (o: CacheOpts) => {
      const c = transferCache();
      await c.clear();
      if (o.json) return print(JSON.stringify({ cleared: c.dir }));
      print(`Removed ${c.dir}`);
    }), 'omlmd cache clear');
}
