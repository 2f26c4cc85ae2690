/**
 * Finding models: `omlmd query` (a JSONPath filter over the local index, PostgreSQL, or a
 * search server), `omlmd serve` (the search server), and `omlmd crawl --index` (crawling
 * registries into an index).
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { OmlmdError } from '../../core/errors';
import type { SearchIndex } from '../../core/search/backend';
import { crawlToIndex, type CrawlEvent } from '../../core/search/crawler';
import { compileQuery, parseSortField, QueryError } from '../../core/search/jsonpath';
import { openIndex, openWritableIndex } from '../../core/search/query';
import { createSearchServer } from '../../server/server';
import { client, collect, controller, example, print, version, withCommon, type Common } from '../context';
import { pipelineActions, withPipelineOptions, type PipelineOpts } from './pipeline';
import { ExitCode, formatError } from '../output';

interface IndexOpts extends Common {
  index?: string | boolean;
  server?: string;
}

/** `--index LOCATION`, else OMLMD_INDEX, else the default SQLite file under OMLMD_HOME. */
function indexLocation(o: IndexOpts): string | undefined {
  if (typeof o.index === 'string' && o.index !== '') return o.index;
  return process.env.OMLMD_INDEX || undefined;
}

function serverToken(): string | undefined {
  if (process.env.OMLMD_SERVER_TOKEN_FILE) return readFileSync(process.env.OMLMD_SERVER_TOKEN_FILE, 'utf8').trim();
  return process.env.OMLMD_SERVER_TOKEN || undefined;
}

function wholeNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new OmlmdError('USAGE', `${flag} takes a whole number ≥ 0, got ${v}`);
  return n;
}

/** A query error shows the query with a caret under the offending spot. */
function reportQueryError(e: QueryError, debug: boolean): void {
  process.stderr.write(`${formatError(e, debug)}\n${e.pointer()}\n`);
  process.exitCode = ExitCode.usage;
}

interface QueryOpts extends IndexOpts {
  sort?: string;
  desc?: boolean;
  limit?: string;
  offset?: string;
}

async function runQuery(jsonpath: string | undefined, o: QueryOpts): Promise<void> {
  const text = jsonpath ?? '$[*]';
  let compiled;
  let sort;
  try {
    compiled = compileQuery(text);
    sort = o.sort !== undefined ? { path: parseSortField(o.sort), desc: o.desc ?? false } : undefined;
  } catch (e) {
    if (e instanceof QueryError) return reportQueryError(e, o.debug ?? false);
    throw e;
  }
  if (o.desc && !o.sort) throw new OmlmdError('USAGE', '--desc needs --sort FIELD');
  if (o.server && typeof o.index === 'string') throw new OmlmdError('USAGE', 'pass --index or --server, not both');
  const limit = wholeNumber('--limit', o.limit);
  const offset = wholeNumber('--offset', o.offset) ?? 0;
  // `omlmd query ... | head`: a reader that stops early is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  const index: SearchIndex = await openIndex(o.server ?? indexLocation(o), { token: serverToken() });
  try {
    let first = true;
    if (o.json) process.stdout.write('[');
    try {
      for await (const doc of index.find(compiled, { sort, offset, limit, signal: controller.signal })) {
        if (o.json) {
          process.stdout.write(`${first ? '\n' : ',\n'}${JSON.stringify(doc)}`);
        } else print(doc.reference);
        first = false;
      }
    } catch (e) {
      if (e instanceof QueryError) return reportQueryError(e, o.debug ?? false);
      throw e;
    }
    if (o.json) process.stdout.write(first ? ']\n' : '\n]\n');
    if (first && !o.server && (await index.count()) === 0) {
      process.stderr.write(`omlmd: the ${index.description} is empty; fill it with: omlmd crawl --index${typeof o.index === 'string' ? ` ${o.index}` : ''} HOST\n`);
    }
  } finally {
    await index.close();
  }
}

interface CrawlIndexOpts extends IndexOpts {
  repo?: string[];
  full?: boolean;
  concurrency?: string;
}

function describeEvent(e: CrawlEvent): string | undefined {
  switch (e.type) {
    case 'problem':
      return `omlmd: skipped ${e.problem.target}: ${e.problem.message}`;
    default:
      return undefined;
  }
}

/** `omlmd crawl --index`: crawls registries, repositories or references into an index. */
export async function crawlIntoIndex(targets: string[], o: CrawlIndexOpts): Promise<void> {
  const n = o.concurrency === undefined ? undefined : Number(o.concurrency);
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 64)) throw new OmlmdError('USAGE', `--concurrency takes a whole number from 1 to 64, got ${o.concurrency}`);
  const index = await openWritableIndex(indexLocation(o));
  try {
    const report = await crawlToIndex(client(o), index, targets, {
      repositories: o.repo,
      full: o.full,
      concurrency: n,
      signal: controller.signal,
      onEvent: (e) => {
        const line = describeEvent(e);
        if (line) process.stderr.write(line + '\n');
      },
    });
    if (o.json) print(JSON.stringify({ index: index.description, ...report }, null, 2));
    else {
      print(`Crawled ${report.repositories} repositor${report.repositories === 1 ? 'y' : 'ies'}, ${report.tags} tag${report.tags === 1 ? '' : 's'} into the ${index.description}`);
      print(`  ${report.indexed} indexed, ${report.unchanged} unchanged, ${report.notModels} not models, ${report.removed} removed, ${report.problems.length} skipped with problems`);
    }
    for (const w of report.warnings) process.stderr.write(`omlmd: warning: ${w}\n`);
    if (report.problems.length > 0) process.exitCode = ExitCode.failure;
  } finally {
    await index.close();
  }
}

function parseListen(v: string): { host: string; port: number } {
  const m = /^(?:(\[[^\]]+\]|[^:]+):)?(\d{1,5})$/.exec(v.trim());
  if (!m || Number(m[2]) > 65535) throw new OmlmdError('USAGE', `--listen takes [HOST:]PORT, got ${v}`);
  return { host: (m[1] ?? '127.0.0.1').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/** `30s`, `10m`, `1h`, or a number of minutes. */
export function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new OmlmdError('USAGE', `${flag} takes a duration such as 30s, 10m or 1h, got ${v}`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 'm']!;
  return Math.round(Number(m[1]) * unit);
}

interface ServeOpts extends IndexOpts {
  registry?: string[];
  repo?: string[];
  listen: string;
  tokenFile?: string;
  recrawl?: string;
  crawl?: boolean;
}

function logLine(level: string, message: string): void {
  process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
}

export function registerSearch(program: Command): void {
  example(withCommon(program.command('query'))
    .description('find models by their metadata: an RFC 9535 JSONPath filter over the index (prints references; --json prints documents)')
    .argument('[jsonpath]', "e.g. '$[?@.customProperties.accuracy > 0.9 && @.model_format_name == \"onnx\"]' or the bare filter; default: every artifact")
    .option('--sort <field>', 'sort by a field: customProperties.accuracy, or a JSONPath like @.customProperties["f1-score"]')
    .option('--desc', 'sort descending')
    .option('--limit <n>', 'print at most N')
    .option('--offset <n>', 'skip the first N matches')
    .option('--index <location>', 'the index: a SQLite file or postgres://... (default: OMLMD_INDEX, else $OMLMD_HOME/index.sqlite)')
    .option('--server <url>', 'query an `omlmd serve` search server instead (token from OMLMD_SERVER_TOKEN)')
    .addHelpText('after', `
Documents: the model's metadata (name, customProperties, model_format_name, ... at the top
level) plus reference, registry, repository, tag, digest, kind (omlmd, omlmd-0.1, modelpack,
kitops), created, annotations, size, files. Fill the index with: omlmd crawl --index HOST`)
    .action(async (jsonpath: string | undefined, o: QueryOpts) => runQuery(jsonpath, o)),
  "omlmd query '$[*]' --sort customProperties.accuracy --desc --limit 1   # the most accurate model's reference");

  example(withPipelineOptions(withCommon(program.command('serve')))
    .description('run the search server: HTTP search API, OpenAPI at /openapi.json, and an endpoint for registry notifications that keeps the index fresh')
    .option('--registry <host>', 'a registry to index and accept notifications from (repeatable)', collect)
    .option('--repo <repository>', 'a repository to crawl when a registry refuses its catalog (repeatable)', collect)
    .option('--index <location>', 'the index: a SQLite file or postgres://... (default: OMLMD_INDEX, else $OMLMD_HOME/index.sqlite)')
    .option('--listen <[host:]port>', 'where to listen', '127.0.0.1:8080')
    .option('--token-file <file>', 'require this bearer token (file content; also OMLMD_SERVE_TOKEN) on everything but /healthz and /openapi.json')
    .option('--recrawl <duration>', 'full re-crawl period to repair drift, e.g. 30m or 1h (default 1h; 0: never)', '1h')
    .option('--no-crawl', 'no full crawl at start')
    .action(async (o: ServeOpts & PipelineOpts) => {
      const registries = o.registry ?? [];
      if (registries.length === 0) throw new OmlmdError('USAGE', 'name the registry to index with --registry HOST', { remedies: [{ kind: 'say', text: 'omlmd serve --registry localhost:5000' }] });
      const token = o.tokenFile ? readFileSync(o.tokenFile, 'utf8').trim() : process.env.OMLMD_SERVE_TOKEN || undefined;
      if (o.tokenFile && !token) throw new OmlmdError('USAGE', `${o.tokenFile} is empty`);
      const { host, port } = parseListen(o.listen);
      const recrawlMs = parseDuration('--recrawl', o.recrawl ?? '1h');
      const index = await openWritableIndex(indexLocation(o));
      const server = createSearchServer({
        index,
        client: client(o),
        registries,
        repositories: o.repo,
        token,
        recrawlIntervalMs: recrawlMs,
        crawlOnStart: o.crawl !== false,
        version,
        log: { info: (m) => logLine('info', m), warn: (m) => logLine('warn', m), error: (m) => logLine('error', m) },
        actions: await pipelineActions(o, { info: (m) => logLine('info', m), warn: (m) => logLine('warn', m), error: (m) => logLine('error', m) }),
      });
      const url = await server.listen(port, host);
      print(`omlmd serve: listening on ${url} (${index.description}; registries ${registries.join(', ')}${token ? '; token required' : ''})`);
      if (!token && host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') {
        logLine('warn', 'no token: anyone who reaches this address can search and send notifications');
      }
      await new Promise<void>((resolve) => {
        if (controller.signal.aborted) resolve();
        controller.signal.addEventListener('abort', () => resolve(), { once: true });
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
      await index.close();
    }), 'omlmd serve --registry localhost:5000 --index postgres://omlmd@db/omlmd --listen 0.0.0.0:8080 --token-file token.txt');
}

