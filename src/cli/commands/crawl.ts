import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { pyJsonDumps } from '../../core/model/pyjson';
import { client, collect, controller, example, print, withCommon, type Common } from '../context';
import { ExitCode } from '../output';
import { crawlIntoIndex } from './search';

/** `omlmd crawl`: the configs of many artifacts as one JSON array, or (with --index) into the search index. */
export function registerCrawl(program: Command): void {
  example(withCommon(program.command('crawl'))
    .description('print the configs of many artifacts as one JSON array (for jq); a target that fails is reported and skipped. With --index, write model artifacts into the search index instead (see omlmd query)')
    .argument('[targets...]', 'references; with --index also HOST (its whole catalog), HOST/REPO (every tag), local')
    .option('--index [location]', 'crawl into an index: a SQLite file or postgres://... (default: OMLMD_INDEX, else $OMLMD_HOME/index.sqlite); only changed tags are fetched')
    .option('--repo <repository>', 'with --index and a HOST target: crawl this repository too, or instead when the catalog is refused (repeatable)', collect)
    .option('--full', 'with --index: fetch every tag again, changed or not')
    .option('--concurrency <n>', 'with --index: how many manifests and configs are fetched at once (default 8)')
    .action(async (targets: string[], o: Common & { index?: string | boolean; repo?: string[]; full?: boolean }) => {
      if (o.index !== undefined) {
        // `crawl --index HOST`: the optional value took the only target; the index is the default one.
        if (typeof o.index === 'string' && targets.length === 0) return crawlIntoIndex([o.index], { ...o, index: true });
        return crawlIntoIndex(targets, o);
      }
      if (targets.length === 0) throw new OmlmdError('USAGE', 'name at least one artifact to crawl', { remedies: [{ kind: 'say', text: 'omlmd crawl HOST/REPO:TAG... (or --index HOST to fill the search index)' }] });
      const { results, errors } = await client(o).crawl(targets, { signal: controller.signal });
      print(pyJsonDumps(results));
      for (const e of errors) process.stderr.write(`omlmd: skipped ${e.reference}: ${e.error.message}\n`);
      if (errors.length > 0) process.exitCode = ExitCode.failure;
    }), 'omlmd crawl localhost:5000/m:v1 localhost:5000/m:v2 | jq "max_by(.config.customProperties.accuracy).reference"\n  omlmd crawl --index localhost:5000');
}
