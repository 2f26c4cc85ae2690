import type { Command } from 'commander';
import { OmlmdClient } from '../../core/client';
import { formatReference } from '../../core/oci/reference';
import { client, controller, example, print, withCommon, type Common } from '../context';

/** `omlmd tags` and `omlmd tag`: list a repository's tags, add one. */
export function registerTags(program: Command): void {
  example(withCommon(program.command('tags'))
    .description('list the tags of a repository')
    .argument('<repository>', 'HOST/REPO, oci:PATH, or REPO (local store)')
    .action(async (repository: string, o: Common) => {
      const tags = await client(o).tags(repository, { signal: controller.signal });
      print(o.json ? JSON.stringify(tags) : tags.join('\n'));
    }), 'omlmd tags localhost:5000/models/mnist');

  example(withCommon(program.command('tag'))
    .description('add a tag to an existing artifact (no bytes move)')
    .argument('<source>')
    .argument('<tag>')
    .action(async (source: string, tag: string, o: Common) => {
      const c = client(o);
      const d = await c.tag(source, tag, { signal: controller.signal });
      const ref = OmlmdClient.parse(source);
      const out = formatReference({ ...ref, tag, digest: d.digest });
      print(o.json ? JSON.stringify({ reference: out, digest: d.digest }) : `Tagged ${out}`);
    }), 'omlmd tag localhost:5000/models/mnist:v1 prod');
}
