import { extname } from 'node:path';
import type { Command } from 'commander';
import yaml from 'js-yaml';
import { OmlmdError } from '../../core/errors';
import { MODEL_FILE_EXTENSIONS, describeHeader, inspectBlobHeader, inspectModelFile, type HeaderSummary } from '../../core/model/headers';
import { ibytes } from '../../core/model/headers/reader';
import { pyJsonDumps } from '../../core/model/pyjson';
import { client, collect, controller, example, print, withCommon, type Common } from '../context';
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
    .description('show an artifact: manifest digest, files, metadata, annotations; or what model files\' headers say')
    .argument('[target]')
    .option('--raw', 'print the manifest bytes exactly as stored')
    .option('-f, --file <path>', 'show what a local model file\'s header says: format, tensors, parameters, pickle imports (repeatable; no target needed)', collect)
    .option('--headers', 'also read each model file\'s header in the artifact (ranged reads of its first bytes)')
    .option('--max-header-bytes <n>', 'read at most this much of each header (default 1MiB, at most 16MiB)')
    .action(async (target: string | undefined, o: Common & { raw?: boolean; file?: string[]; headers?: boolean; maxHeaderBytes?: string }) => {
      const maxBytes = o.maxHeaderBytes === undefined ? undefined : parseBytes(o.maxHeaderBytes);
      if (o.file?.length) {
        if (target !== undefined) throw new OmlmdError('USAGE', 'give either a target or --file, not both');
        const summaries: HeaderSummary[] = [];
        for (const f of o.file) summaries.push(await inspectModelFile(f, { maxBytes }));
        print(o.json ? JSON.stringify(summaries, null, 2) : summaries.map(headerLines).join('\n'));
        return;
      }
      if (target === undefined) throw new OmlmdError('USAGE', 'no target given', { remedies: [{ kind: 'say', text: 'name an artifact (HOST/REPO:TAG) or a local model file with --file PATH' }] });
      const c = client(o);
      const info = await c.inspect(target, { signal: controller.signal });
      let headers: HeaderSummary[] | undefined;
      if (o.headers) {
        const repo = await c.repository(target);
        headers = [];
        for (const f of info.view.files) {
          if (f.role !== 'model' || !MODEL_FILE_EXTENSIONS.has(extname(f.path).toLowerCase())) continue;
          headers.push(await inspectBlobHeader(repo, f.descriptor, f.path, { maxBytes, signal: controller.signal }));
        }
      }
      if (o.raw) {
        const repo = await c.repository(target);
        const m = await repo.fetchManifest(info.index ? info.index.descriptor.digest : info.descriptor.digest, { signal: controller.signal });
        process.stdout.write(m.bytes);
        return;
      }
      if (o.json) {
        print(JSON.stringify({ reference: info.reference, digest: info.descriptor.digest, mediaType: info.descriptor.mediaType, size: info.descriptor.size, artifactType: info.view.artifactType, flavor: info.view.flavor, metadataOnly: info.view.metadataOnly, files: info.view.files.map((f) => ({ path: f.path, role: f.role, mediaType: f.descriptor.mediaType, digest: f.descriptor.digest, size: f.descriptor.size })), metadata: info.metadata, annotations: info.manifest.annotations ?? {}, manifest: info.manifest, warnings: info.warnings, ...(headers ? { headers } : {}) }, null, 2));
        return;
      }
      const lines = [`Reference:     ${info.reference}`, `Digest:        ${info.descriptor.digest}`, `Artifact type: ${info.view.artifactType ?? '-'}${info.view.flavor === 'omlmd-0.1' ? ' (omlmd 0.1.x model)' : info.view.flavor === 'omlmd' ? ' (omlmd model)' : info.view.flavor === 'modelpack' ? ' (ModelPack model)' : info.view.flavor === 'kitops' ? ' (KitOps ModelKit)' : info.view.flavor === 'docker' ? ' (Docker Model Runner model)' : ''}`];
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
      if (headers) {
        lines.push(headers.length ? 'Headers:' : 'Headers:       no model file with a known extension');
        for (const h of headers) lines.push(headerLines(h).split('\n').map((l) => `  ${l}`).join('\n'));
      }
      for (const w of info.warnings) lines.push(`Warning: ${w}`);
      print(lines.join('\n'));
    }), 'omlmd inspect localhost:5000/models/mnist:v1 --headers; omlmd inspect --file model.safetensors');
}

/** `4096`, `64KiB`, `1MiB` (also k/K/m/M as binary units). */
function parseBytes(s: string): number {
  const m = /^(\d+)\s*(k|kib|m|mib)?$/i.exec(s.trim());
  if (!m) throw new OmlmdError('USAGE', `--max-header-bytes ${s}: not a size (e.g. 4MiB, 65536)`);
  const unit = m[2]?.toLowerCase().startsWith('m') ? 1 << 20 : m[2] ? 1 << 10 : 1;
  return Number(m[1]) * unit;
}

function headerLines(h: HeaderSummary): string {
  const lines = [`File:          ${h.name}`, `  Header:      ${describeHeader(h)}`, `  Read:        ${ibytes(h.bytesRead)} of ${ibytes(h.fileSize)}${h.complete ? '' : ' (header not read to its end)'}`];
  for (const w of h.warnings) lines.push(`  Warning:     ${w}`);
  return lines.join('\n');
}
