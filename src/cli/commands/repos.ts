import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import { client, controller, example, print, withCommon, type Common } from '../context';
import { humanSize } from '../output';

/** `omlmd repos` and `omlmd list`: the repositories of a registry (its catalog, paged), of a layout, of the local store. */
export function registerRepos(program: Command): void {
  example(withCommon(program.command('repos'))
    .description('list repositories of a registry (its catalog, paged) or of the local store')
    .argument('[registry]', 'HOST[:PORT], oci:PATH, or "local" (the default)')
    .option('-n, --page-size <n>', 'repositories per page')
    .option('--last <name>', 'start after this repository (from the previous page)')
    .option('--all', 'follow every page')
    .action(async (registry: string | undefined, o: Common & { pageSize?: string; last?: string; all?: boolean }) => {
      const c = client(o);
      const n = o.pageSize ? Number(o.pageSize) : undefined;
      if (n !== undefined && (!Number.isInteger(n) || n < 1)) throw new OmlmdError('USAGE', `--page-size takes a positive whole number, got ${o.pageSize}`);
      const repos: string[] = [];
      let next: string | undefined;
      if (o.all) {
        for await (const page of c.repositoryPages(registry, { signal: controller.signal, last: o.last, n })) repos.push(...page.repositories);
      } else {
        const page = await c.repositories(registry, { signal: controller.signal, last: o.last, n });
        repos.push(...page.repositories);
        next = page.next;
      }
      if (o.json) print(JSON.stringify({ repositories: repos, next: o.all ? undefined : next }));
      else {
        if (repos.length) print(repos.join('\n'));
        if (next && !o.all) process.stderr.write(`(more: --last ${next}, or --all)\n`);
      }
    }), 'omlmd repos localhost:5000 --all');

  example(withCommon(program.command('list'))
    .alias('ls')
    .description('list the models in the local store')
    .action(async (o: Common) => {
      const entries = await client(o).list({ signal: controller.signal });
      if (o.json) {
        print(JSON.stringify(entries, null, 2));
        return;
      }
      if (entries.length === 0) {
        print('The local store is empty. Push a model with: omlmd push NAME:TAG model.onnx --name "My model"');
        return;
      }
      const rows = entries.map((e) => [e.reference, e.name ?? '-', e.format ?? '-', humanSize(e.size), e.digest.slice(0, 19)]);
      const head = ['REFERENCE', 'NAME', 'FORMAT', 'SIZE', 'DIGEST'];
      const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const r of [head, ...rows]) print(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd());
    }), 'omlmd list');
}
