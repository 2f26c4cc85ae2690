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

/** A secret from `--FLAG FILE`, else `ENV_FILE` (a file), else `ENV`; a named file that is empty is an error. */
function secret(flag: string, file: string | undefined, env: string): string | undefined {
  const [path, from] = file ? [file, flag] : process.env[`${env}_FILE`] ? [process.env[`${env}_FILE`]!, `${env}_FILE`] : [undefined, env];
  if (path === undefined) return process.env[env] || undefined;
  let text: string;
  try {
    text = readFileSync(path, 'utf8').trim();
  } catch (e) {
    throw new OmlmdError('USAGE', `${from}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (!text) throw new OmlmdError('USAGE', `${from}: ${path} is empty`);
  return text;
}

/**
 * The search token has one name, OMLMD_SERVER_TOKEN, for `serve` and `query --server`
 * alike. The old `serve` name is refused, not read: set alone it used to be what started
 * a server open by mistake (the other name set instead).
 */
function serveTokens(o: ServeOpts): { token?: string; notifyToken?: string } {
  const token = secret('--token-file', o.tokenFile, 'OMLMD_SERVER_TOKEN');
  const old = process.env.OMLMD_SERVE_TOKEN;
  if (old && old !== token) throw new OmlmdError('USAGE', 'OMLMD_SERVE_TOKEN is not read: name the search token OMLMD_SERVER_TOKEN (as omlmd query --server does), or pass --token-file FILE');
  const notifyToken = secret('--notify-token-file', o.notifyTokenFile, 'OMLMD_NOTIFY_TOKEN');
  if (token && notifyToken === token) throw new OmlmdError('USAGE', 'the notification token must differ from the search token, or any search client could send the server events');
  if (!token && !o.allowAnonymous) throw new OmlmdError('USAGE', 'refusing to serve searches to anyone: give the search API a token with --token-file FILE (or OMLMD_SERVER_TOKEN), or pass --allow-anonymous');
  return { token, notifyToken };
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
  notifyTokenFile?: string;
  allowAnonymous?: boolean;
  allowedHost?: string[];
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
    .option('--token-file <file>', "the search clients' bearer token (file content; also OMLMD_SERVER_TOKEN or OMLMD_SERVER_TOKEN_FILE), required on everything but /healthz, /openapi.json and /notifications")
    .option('--notify-token-file <file>', "the registry's own bearer token for /notifications (file content; also OMLMD_NOTIFY_TOKEN or OMLMD_NOTIFY_TOKEN_FILE); without it, notifications are refused and re-crawls keep the index")
    .option('--allow-anonymous', 'serve without a token whatever has none: searches, and notifications without --notify-token-file')
    .option('--allowed-host <name>', 'a Host name clients use to reach the server, besides loopback names and the listen address (repeatable; * for any); others get 421', collect)
    .option('--recrawl <duration>', 'full re-crawl period to repair drift, e.g. 30m or 1h (default 1h; 0: never)', '1h')
    .option('--no-crawl', 'no full crawl at start')
    .action(async (o: ServeOpts & PipelineOpts) => {
      const registries = o.registry ?? [];
      if (registries.length === 0) throw new OmlmdError('USAGE', 'name the registry to index with --registry HOST', { remedies: [{ kind: 'say', text: 'omlmd serve --registry localhost:5000' }] });
      const { token, notifyToken } = serveTokens(o);
      const { host, port } = parseListen(o.listen);
      const recrawlMs = parseDuration('--recrawl', o.recrawl ?? '1h');
      const index = await openWritableIndex(indexLocation(o));
      const server = createSearchServer({
        index,
        client: client(o),
        registries,
        repositories: o.repo,
        token,
        notifyToken,
        allowAnonymous: o.allowAnonymous,
        allowedHosts: o.allowedHost,
        recrawlIntervalMs: recrawlMs,
        crawlOnStart: o.crawl !== false,
        version,
        log: { info: (m) => logLine('info', m), warn: (m) => logLine('warn', m), error: (m) => logLine('error', m) },
        actions: await pipelineActions(o, { info: (m) => logLine('info', m), warn: (m) => logLine('warn', m), error: (m) => logLine('error', m) }),
      });
      const url = await server.listen(port, host);
      print(`omlmd serve: listening on ${url} (${index.description}; registries ${registries.join(', ')}; searches ${token ? 'need the search token' : 'open'}; notifications ${notifyToken ? 'need the notification token' : o.allowAnonymous ? 'open' : 'refused'})`);
      if (o.allowAnonymous && (!token || !notifyToken)) {
        logLine('warn', `--allow-anonymous: anyone who reaches ${url} can ${[!token && 'search', !notifyToken && 'send notifications (each checked against the registry)'].filter(Boolean).join(' and ')}`);
      }
      if (!notifyToken && !o.allowAnonymous) logLine('warn', 'no notification token (--notify-token-file or OMLMD_NOTIFY_TOKEN): /notifications refuses every event; only re-crawls keep the index');
      await new Promise<void>((resolve) => {
        if (controller.signal.aborted) resolve();
        controller.signal.addEventListener('abort', () => resolve(), { once: true });
        process.once('SIGTERM', () => resolve());
      });
      await server.close();
      await index.close();
    }), 'omlmd serve --registry localhost:5000 --index postgres://omlmd@db/omlmd --listen 0.0.0.0:8080 --allowed-host search.example.com --token-file token.txt --notify-token-file notify-token.txt');
}

