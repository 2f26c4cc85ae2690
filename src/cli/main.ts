import { resolve } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Command, CommanderError, Option } from 'commander';
import yaml from 'js-yaml';
import { OmlmdClient } from '../core/client';
import { OmlmdError } from '../core/errors';
import { pyJsonDumps } from '../core/model/pyjson';
import { formatReference } from '../core/oci/reference';
import { paceCollections } from '../core/transfer/memory';
import { client, collect, concurrency, controller, example, metadataFromOptions, parseAnnotation, print, state, version, withCommon, withProgress, type Common, type PushOpts } from './context';
import { COMMAND_MODULES } from './commands';
import { copyRecursive } from '../core/lineage/api';
import { crawlIntoIndex } from './commands/search';
import { ExitCode, exitCodeFor, formatError, humanSize } from './output';

export function buildProgram(): Command {
  const program = new Command('omlmd')
    .description('Models with metadata as OCI artifacts: push, pull, inspect, copy and list them in registries, OCI layouts, and the local store.')
    .version(version, '-V, --version')
    .showSuggestionAfterError()
    .addHelpText('after', `
References:
  HOST[:PORT]/REPO[:TAG|@DIGEST]   an OCI registry (plain HTTP by default for localhost/127.0.0.1)
  oci:PATH[:TAG]                    an OCI image layout on disk (as skopeo writes it)
  REPO[:TAG]                        the local store under OMLMD_HOME (no server needed)

Exit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 authentication, 4 not found,
            5 integrity (digest, size, unsafe path), 6 network or TLS, 130 cancelled.`);

  example(withCommon(program.command('push'), true)
    .description('push model files (or folders) with their metadata as an OCI artifact')
    .argument('<target>', 'where to push: HOST/REPO:TAG, oci:PATH:TAG, or REPO:TAG (local store)')
    .argument('[path...]', 'model files or folders (none: a metadata-only artifact; set --uri)')
    .option('-m, --metadata <file>', 'metadata file, YAML or JSON')
    .option('--empty-metadata', 'push with empty metadata')
    .option('--name <name>', 'model name')
    .option('--description <text>', 'model description')
    .option('--author <author>', 'model author')
    .option('--uri <uri>', 'where the model lives, for a metadata-only artifact (s3://, hf://, https://)')
    .option('--model-format-name <format>', 'model format, e.g. onnx, sklearn, pytorch, gguf')
    .option('--model-format-version <version>', 'model format version')
    .option('-p, --property <key=value>', 'a customProperties entry (repeatable); numbers and booleans keep their type', collect)
    .option('-a, --annotation <key=value>', 'an extra manifest annotation (repeatable)', collect)
    .option('--no-artifact-type', 'write no artifactType, exactly as omlmd 0.1.x')
    .addOption(new Option('--as-artifact', 'accepted for omlmd 0.1.x compatibility (always an artifact)').hideHelp())
    .action(async (target: string, paths: string[], o: PushOpts) => {
      const metadata = await metadataFromOptions(o);
      const c = client(o);
      const res = await withProgress('push', o, (onProgress) => c.push(target, {
        paths,
        metadata,
        annotations: o.annotation?.length ? Object.fromEntries(o.annotation.map(parseAnnotation)) : undefined,
        artifactType: o.artifactType === false ? false : undefined,
      }, { signal: controller.signal, onProgress, concurrency: concurrency(o) }));
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, mediaType: res.descriptor.mediaType, size: res.descriptor.size, files: res.files.map((f) => ({ title: f.title, size: f.size })) }, null, 2));
      } else {
        const bytes = res.files.reduce((n, f) => n + f.size, 0);
        print(`Pushed ${res.reference}\n  ${res.files.length} model file${res.files.length === 1 ? '' : 's'} (${humanSize(bytes)})${res.files.length === 0 ? ', metadata only' : ''}`);
      }
    }), 'omlmd push localhost:5000/models/mnist:v1 mnist.onnx -m metadata.yaml');

  example(withCommon(program.command('pull'), true)
    .description('pull an artifact\'s files into a directory, verifying every digest')
    .argument('<target>', 'what to pull')
    .option('-o, --output <dir>', 'output directory', '.')
    .option('-m, --media-types <type>', 'only layers of this media type (repeatable)', collect)
    .option('-i, --include <glob>', 'only files matching this path glob (repeatable), e.g. "*.onnx"', collect)
    .option('-x, --exclude <glob>', 'leave out files matching this path glob (repeatable)', collect)
    .option('--no-unpack', 'write the folder tar of an omlmd 0.1.x directory push as a file instead of unpacking it')
    .action(async (target: string, o: Common & { output: string; mediaTypes?: string[]; include?: string[]; exclude?: string[]; unpack?: boolean }) => {
      const c = client(o);
      const out = resolve(o.output);
      const res = await withProgress('pull', o, (onProgress) => c.pull(target, out, {
        signal: controller.signal, onProgress, concurrency: concurrency(o), mediaTypes: o.mediaTypes, include: o.include, exclude: o.exclude, unpack: o.unpack,
      }));
      if (o.json) {
        print(JSON.stringify({ reference: res.reference, digest: res.descriptor.digest, files: res.files }, null, 2));
      } else {
        print(`Pulled ${res.reference} into ${out}`);
        for (const f of res.files) print(`  ${f.title}${f.unpacked ? '/' : ''}  ${humanSize(f.size)}${f.existed ? '  (already there)' : ''}`);
        if (res.files.length === 0) print('  no file matched');
      }
    }), 'omlmd pull localhost:5000/models/mnist:v1 -o ./model --include "*.onnx"');

  const get = program.command('get').description('get parts of an artifact (omlmd 0.1.x)');
  example(withCommon(get.command('config'))
    .description('print the model\'s config as {"reference": ..., "config": {...}}')
    .argument('<target>')
    .action(async (target: string, o: Common) => {
      print(pyJsonDumps(await client(o).getConfig(target, { signal: controller.signal })));
    }), 'omlmd get config localhost:5000/models/mnist:v1');

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
      if (targets.length === 0) throw new OmlmdError('USAGE', 'name at least one artifact to crawl', { hint: 'omlmd crawl HOST/REPO:TAG... (or --index HOST to fill the search index)' });
      const { results, errors } = await client(o).crawl(targets, { signal: controller.signal });
      print(pyJsonDumps(results));
      for (const e of errors) process.stderr.write(`omlmd: skipped ${e.reference}: ${e.error.message}\n`);
      if (errors.length > 0) process.exitCode = ExitCode.failure;
    }), 'omlmd crawl localhost:5000/m:v1 localhost:5000/m:v2 | jq "max_by(.config.customProperties.accuracy).reference"\n  omlmd crawl --index localhost:5000');

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

  example(withCommon(program.command('copy'), true)
    .alias('cp')
    .description('copy an artifact between registries, OCI layouts and the local store; the digest is kept and only missing blobs move')
    .argument('<source>')
    .argument('<destination>', 'a tag, or no tag to keep the source\'s')
    .option('-r, --recursive', 'also copy every artifact that refers to it (ModelCar images, model cards, SBOMs), recursively, keeping the graph')
    .action(async (source: string, destination: string, o: Common & { recursive?: boolean }) => {
      const c = client(o);
      if (o.recursive) {
        const res = await withProgress('copy', o, (onProgress) => copyRecursive(c, source, destination, { signal: controller.signal, onProgress, concurrency: concurrency(o) }));
        if (o.json) print(JSON.stringify(res, null, 2));
        else print(`Copied ${source} and ${res.referrers.length} referrer${res.referrers.length === 1 ? '' : 's'} to ${res.reference}\n  ${res.copied} blob${res.copied === 1 ? '' : 's'} sent (${humanSize(res.bytes)}), ${res.skipped} already there`);
        return;
      }
      const res = await withProgress('copy', o, (onProgress) => c.copy(source, destination, { signal: controller.signal, onProgress, concurrency: concurrency(o) }));
      if (o.json) print(JSON.stringify(res, null, 2));
      else print(`Copied ${source} to ${res.reference}\n  ${res.copied} blob${res.copied === 1 ? '' : 's'} sent (${humanSize(res.bytes)}), ${res.skipped} already there${res.mounted ? `, ${res.mounted} mounted from ${source.replace(/[:@][^/]*$/, '')}` : ''}`);
    }), 'omlmd copy localhost:5000/models/mnist:v1 oci:./mnist-layout:v1\n  omlmd copy --recursive localhost:5000/models/mnist:v1 registry.example.com/models/mnist:v1');

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
      let last = o.last;
      let next: string | undefined;
      do {
        const page = await c.repositories(registry, { signal: controller.signal, last, n });
        repos.push(...page.repositories);
        next = page.next;
        last = next;
      } while (o.all && next);
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

  for (const register of COMMAND_MODULES) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ outputError: (s, write) => write(s.startsWith('error:') ? `omlmd: ${s}` : s) });
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    if (state.interrupted) {
      // Uploads stay open and downloads keep their partial files (hidden, never under the final name): the same command goes on from there.
      process.stderr.write('omlmd: cancelled; nothing was left under a final name, and running the same command again goes on from where it stopped\n');
      return ExitCode.cancelled;
    }
    process.stderr.write(formatError(e, debug) + '\n');
    return exitCodeFor(e);
  }
}

if (require.main === module) {
  // undici parses HTTP in WebAssembly (llhttp). V8's optimizing tier-up of that module costs
  // 20-35 MB of RSS at its peak, a quarter of a transfer's memory, for no gain that a
  // command run can measure (bodies, not headers, make a transfer): the baseline compiler does.
  setFlagsFromString('--liftoff-only');
  // A collection the transfer engine paces by the bytes it moves (core/transfer/memory.ts);
  // the flag only installs `gc` in contexts made after it, such as this one.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as ((o?: { type: 'minor' | 'major' }) => void) | undefined;
  if (typeof gc === 'function') paceCollections(() => gc({ type: 'minor' }));
  process.on('SIGINT', () => {
    if (state.interrupted) process.exit(ExitCode.cancelled);
    state.interrupted = true;
    controller.abort(new OmlmdError('CANCELLED', 'interrupted'));
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
