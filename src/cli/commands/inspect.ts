import type { Command } from 'commander';
import yaml from 'js-yaml';
import { pyJsonDumps } from '../../core/model/pyjson';
import { client, controller, example, print, withCommon, type Common } from '../context';
import { humanSize } from '../output';

/** `omlmd get config`: the model's config as omlmd 0.1.x printed it. */
export function registerGet(program: Command): void {
  const get = program.command('get').description('get parts of an artifact (omlmd 0.1.x)');
  example(withCommon(get.command('config'))
    .description('print the model\'s config as {"reference": ..., "config": {...}}')
    .argument('<target>')
    .action(async (target: string, o: Common) => {
      print(pyJsonDumps(await client(o).getConfig(target, { signal: controller.signal })));
    }), 'omlmd get config localhost:5000/models/mnist:v1');
}

/** `omlmd metadata` and `omlmd inspect`: what an artifact holds, its metadata alone or everything. */
export function registerInspect(program: Command): void {
  example(withCommon(program.command('metadata'))
    .description('print a model\'s metadata (YAML by default)')
    .argument('<target>')
    .option('--yaml', 'print YAML (the default)')
    .action(async (target: string, o: Common) => {
      const res = await client(o).metadata(target, { signal: controller.signal });
      for (const w of res.warnings) process.stderr.write(`omlmd: warning: ${w}\n`);
      print(o.json ? JSON.stringify(res.metadata, null, 2) : yaml.dump(res.metadata, { sortKeys: false, lineWidth: -1, noArrayIndent: true }));
    }), 'omlmd metadata mnist:v1 --json');

  example(withCommon(program.command('inspect'))
    .description('show an artifact: manifest digest, files, metadata, annotations')
    .argument('<target>')
    .option('--raw', 'print the manifest bytes exactly as stored')
    .action(async (target: string, o: Common & { raw?: boolean }) => {
      const c = client(o);
      const info = await c.inspect(target, { signal: controller.signal });
      if (o.raw) {
        const repo = await c.repository(target);
        const m = await repo.fetchManifest(info.index ? info.index.descriptor.digest : info.descriptor.digest, { signal: controller.signal });
        process.stdout.write(m.bytes);
        return;
      }
      if (o.json) {
        print(JSON.stringify({ reference: info.reference, digest: info.descriptor.digest, mediaType: info.descriptor.mediaType, size: info.descriptor.size, artifactType: info.view.artifactType, flavor: info.view.flavor, metadataOnly: info.view.metadataOnly, files: info.view.files.map((f) => ({ path: f.path, role: f.role, mediaType: f.descriptor.mediaType, digest: f.descriptor.digest, size: f.descriptor.size })), metadata: info.metadata, annotations: info.manifest.annotations ?? {}, manifest: info.manifest, warnings: info.warnings }, null, 2));
        return;
      }
      const lines = [`Reference:     ${info.reference}`, `Digest:        ${info.descriptor.digest}`, `Artifact type: ${info.view.artifactType ?? '-'}${info.view.flavor === 'omlmd-0.1' ? ' (omlmd 0.1.x model)' : info.view.flavor === 'omlmd' ? ' (omlmd model)' : ''}`];
      if (info.metadata) {
        const md = info.metadata;
        lines.push(`Name:          ${md.name ?? '-'}`, `Format:        ${[md.model_format_name, md.model_format_version].filter(Boolean).join(' ') || '-'}`, `Author:        ${md.author ?? '-'}`);
        if (md.uri) lines.push(`Model URI:     ${md.uri}`);
        if (md.customProperties && Object.keys(md.customProperties).length) lines.push(`Properties:    ${pyJsonDumps(md.customProperties)}`);
      }
      lines.push(info.view.metadataOnly ? 'Files:         none (metadata only)' : 'Files:');
      for (const f of info.view.files) lines.push(`  ${f.role.padEnd(8)} ${humanSize(f.descriptor.size).padStart(9)}  ${f.path}  ${f.descriptor.mediaType}`);
      const ann = info.manifest.annotations ?? {};
      if (Object.keys(ann).length) {
        lines.push('Annotations:');
        for (const [k, v] of Object.entries(ann)) lines.push(`  ${k}: ${v}`);
      }
      for (const w of info.warnings) lines.push(`Warning: ${w}`);
      print(lines.join('\n'));
    }), 'omlmd inspect localhost:5000/models/mnist:v1');
}
