/**
 * A hostile registry: a small OCI distribution server (node:http) that serves whatever a
 * test crafted — lying manifests, tar layers with `../` entries, gzip bombs, endless
 * catalogs, error bodies holding `command:` links, token realms on plain HTTP. It is the
 * fault-injection double the quality bar allows: no real registry will serve these answers
 * on purpose, so the tests that prove we refuse them need one that does. Say so in the
 * test's name ("hostile registry").
 *
 * By default it behaves like a read-only registry over what was put in it: `GET /v2/`,
 * manifests by tag or digest (GET and HEAD), blobs by digest, `tags/list`, `_catalog`.
 * `on()` adds routes that win over the defaults (first added, first tried), so one test can
 * override exactly the answer it is about. Every request is recorded in `seen`.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { createGzip, gzipSync } from 'node:zlib';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

/** Answers a request; return `false` to fall through to the next route or the defaults. */
export type Handler = (req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, body: Buffer) => void | boolean | Promise<void | boolean>;

export interface BlobSource {
  size: number;
  /** Declared digest; may differ from the bytes when a test wants a lie. */
  digest: string;
  open(): Readable;
}

export interface HostileRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  seen: SeenRequest[];
  /** Adds a route; a string path matches exactly (query ignored), a RegExp is tested on the path. */
  on(method: string, path: string | RegExp, handler: Handler): void;
  /** Stores a blob (bytes, or a stream source for huge, endless or lying blobs); returns its digest. */
  blob(bytes: Buffer | BlobSource): string;
  /** Stores a manifest under `name` and, when given, a tag; returns its digest. Objects are JSON-encoded. */
  manifest(name: string, body: Buffer | object, opts?: { tag?: string; mediaType?: string }): string;
  /** An omlmd 0.1.x model artifact from these layers (titles as given, unchecked); returns the manifest digest. */
  model(name: string, tag: string, files: HostileFile[], opts?: { config?: Buffer; annotations?: Record<string, string> }): string;
  /** Requests seen whose path matches. */
  count(method: string, path: RegExp): number;
  /** TCP connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

export interface HostileFile {
  title?: string;
  bytes?: Buffer;
  /** Instead of bytes: a stream source (the declared size and digest are the descriptor's). */
  source?: BlobSource;
  mediaType?: string;
  annotations?: Record<string, string>;
}

export const sha256Hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
export const digestOf = (b: Buffer | string): string => `sha256:${sha256Hex(b)}`;

export function ociError(code: string, message: string, detail?: unknown): string {
  return JSON.stringify({ errors: [{ code, message, ...(detail === undefined ? {} : { detail }) }] });
}

export async function startHostileRegistry(): Promise<HostileRegistry> {
  const routes: { method: string; path: string | RegExp; handler: Handler }[] = [];
  const blobs = new Map<string, BlobSource>();
  const manifests = new Map<string, { bytes: Buffer; mediaType: string }>();
  const tags = new Map<string, Map<string, string>>();
  const seen: SeenRequest[] = [];
  const sockets = new Set<Socket>();

  const notFound = (res: ServerResponse, code = 'NAME_UNKNOWN'): void => {
    res.writeHead(404, { 'content-type': 'application/json' }).end(ociError(code, 'not found'));
  };

  const defaults = (req: IncomingMessage, res: ServerResponse, path: string, query: URLSearchParams): void => {
    const method = req.method ?? 'GET';
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0' }).end('{}');
      return;
    }
    if (path === '/v2/_catalog') {
      const names = [...new Set([...tags.keys()])].sort();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ repositories: names }));
      return;
    }
    let m = /^\/v2\/(.+)\/tags\/list$/.exec(path);
    if (m) {
      const t = tags.get(m[1]!);
      if (!t) return notFound(res);
      const n = Number(query.get('n') ?? 0);
      const all = [...t.keys()].sort();
      const last = query.get('last');
      const from = last ? all.filter((x) => x > last) : all;
      const page = n > 0 ? from.slice(0, n) : from;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ name: m[1], tags: page }));
      return;
    }
    m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(path);
    if (m && (method === 'GET' || method === 'HEAD')) {
      const ref = m[2]!;
      const digest = ref.startsWith('sha256:') ? ref : tags.get(m[1]!)?.get(ref);
      const found = digest ? manifests.get(digest) : undefined;
      if (!found || !digest) return notFound(res, 'MANIFEST_UNKNOWN');
      res.writeHead(200, { 'content-type': found.mediaType, 'content-length': String(found.bytes.length), 'docker-content-digest': digest });
      res.end(method === 'HEAD' ? undefined : found.bytes);
      return;
    }
    m = /^\/v2\/(.+)\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
    if (m && (method === 'GET' || method === 'HEAD')) {
      const b = blobs.get(m[2]!);
      if (!b) return notFound(res, 'BLOB_UNKNOWN');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(b.size), 'docker-content-digest': b.digest });
      if (method === 'HEAD') return void res.end();
      const s = b.open();
      s.on('error', () => res.destroy());
      res.on('close', () => s.destroy());
      s.pipe(res);
      return;
    }
    res.writeHead(405, { 'content-type': 'application/json' }).end(ociError('UNSUPPORTED', `${method} ${path} is not served by the hostile registry`));
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://hostile');
    seen.push({ method: req.method ?? '', path: `${url.pathname}${url.search}`, headers: req.headers });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        for (const r of routes) {
          if (r.method !== '*' && r.method !== req.method) continue;
          const match = typeof r.path === 'string' ? (url.pathname === r.path ? Object.assign([url.pathname], { index: 0, input: url.pathname }) as RegExpExecArray : null) : r.path.exec(url.pathname);
          if (!match) continue;
          const handled = await r.handler(req, res, match, body);
          if (handled !== false) return;
        }
        defaults(req, res, url.pathname, url.searchParams);
      })().catch(() => res.destroy());
    });
  });
  let connections = 0;
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  const api: HostileRegistry = {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    seen,
    get connections() {
      return connections;
    },
    on(method, path, handler) {
      routes.push({ method, path, handler });
    },
    blob(b) {
      if (Buffer.isBuffer(b)) {
        const digest = digestOf(b);
        blobs.set(digest, { size: b.length, digest, open: () => Readable.from([b]) });
        return digest;
      }
      blobs.set(b.digest, b);
      return b.digest;
    },
    manifest(name, body, opts = {}) {
      const bytes = Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
      const mediaType = opts.mediaType ?? (Buffer.isBuffer(body) ? 'application/vnd.oci.image.manifest.v1+json' : String((body as { mediaType?: string }).mediaType ?? 'application/vnd.oci.image.manifest.v1+json'));
      const digest = digestOf(bytes);
      manifests.set(digest, { bytes, mediaType });
      if (!tags.has(name)) tags.set(name, new Map());
      if (opts.tag) tags.get(name)!.set(opts.tag, digest);
      return digest;
    },
    model(name, tag, files, opts = {}) {
      const config = opts.config ?? Buffer.from(JSON.stringify({ name: 'hostile', description: 'crafted by a test', customProperties: {} }));
      const configDigest = api.blob(config);
      const layers = files.map((f) => {
        const src = f.source;
        const digest = src ? api.blob(src) : api.blob(f.bytes ?? Buffer.alloc(0));
        const size = src ? src.size : (f.bytes ?? Buffer.alloc(0)).length;
        const annotations = { ...(f.title === undefined ? {} : { 'org.opencontainers.image.title': f.title }), ...f.annotations };
        return { mediaType: f.mediaType ?? 'application/x-mlmodel', digest, size, ...(Object.keys(annotations).length ? { annotations } : {}) };
      });
      return api.manifest(name, {
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/x-config', digest: configDigest, size: config.length },
        layers,
        ...(opts.annotations ? { annotations: opts.annotations } : {}),
      }, { tag });
    },
    count(method, path) {
      return seen.filter((s) => s.method === method && path.test(s.path)).length;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}

export interface TarEntry {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink';
  body?: Buffer;
  linkname?: string;
  mode?: number;
  /** The size the header declares, when no body is given (a bomb's zeros follow it). */
  size?: number;
}

/**
 * A raw ustar archive with exactly these entries, names unchecked (`../x`, `/etc/x`, a file
 * then a directory of the same name): what a hostile tool could write, which node-tar's
 * packer would refuse to make. Names longer than 100 bytes use a PAX header.
 */
export function rawTar(entries: TarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  const header = (name: string, size: number, typeflag: string, linkname = '', mode = 0o644): Buffer => {
    const h = Buffer.alloc(512, 0);
    h.write(name.slice(0, 100), 0, 'utf8');
    h.write(mode.toString(8).padStart(7, '0') + '\0', 100, 'ascii');
    h.write('0000000\0', 108, 'ascii');
    h.write('0000000\0', 116, 'ascii');
    h.write(size.toString(8).padStart(11, '0') + '\0', 124, 'ascii');
    h.write('00000000000\0', 136, 'ascii');
    h.write('        ', 148, 'ascii');
    h.write(typeflag, 156, 'ascii');
    h.write(linkname.slice(0, 100), 157, 'utf8');
    h.write('ustar\0', 257, 'ascii');
    h.write('00', 263, 'ascii');
    let sum = 0;
    for (const b of h) sum += b;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'ascii');
    return h;
  };
  const pad = (b: Buffer): Buffer => (b.length % 512 === 0 ? b : Buffer.concat([b, Buffer.alloc(512 - (b.length % 512))]));
  for (const e of entries) {
    if (Buffer.byteLength(e.name) > 100) {
      const rec = (k: string, v: string): string => {
        const body = ` ${k}=${v}\n`;
        let len = body.length + 1;
        while (String(len).length + body.length !== len) len = String(len).length + body.length;
        return `${len}${body}`;
      };
      const pax = Buffer.from(rec('path', e.name));
      blocks.push(header('PaxHeader', pax.length, 'x'), pad(pax));
    }
    const body = e.body ?? Buffer.alloc(0);
    const type = e.type ?? 'file';
    const flag = type === 'file' ? '0' : type === 'dir' ? '5' : type === 'symlink' ? '2' : '1';
    blocks.push(header(e.name, type === 'file' ? e.size ?? body.length : 0, flag, e.linkname ?? '', e.mode ?? (type === 'dir' ? 0o755 : 0o644)));
    if (type === 'file' && body.length) blocks.push(pad(body));
  }
  blocks.push(Buffer.alloc(1024, 0));
  return Buffer.concat(blocks);
}

/**
 * A gzip tar holding `folder/` and one file of `size` zero bytes: ~1 KB on the wire per MB
 * it inflates to (a 0.1.x folder layer that is a gzip bomb). Made as a stream: no `size` buffer.
 */
export async function gzipTarBomb(folder: string, size: number): Promise<Buffer> {
  const head = rawTar([{ name: `${folder}/`, type: 'dir' }, { name: `${folder}/zeros.bin`, size }]);
  const headers = head.subarray(0, head.length - 1024);
  const zeros = size + (512 - (size % 512)) % 512 + 1024;
  const chunks: Buffer[] = [];
  const gz = createGzip({ level: 9 });
  gz.on('data', (b: Buffer) => chunks.push(b));
  const ended = new Promise((r) => gz.on('end', r));
  const block = Buffer.alloc(1 << 20, 0);
  gz.write(headers);
  for (let left = zeros; left > 0; left -= block.length) {
    if (!gz.write(left >= block.length ? block : block.subarray(0, left))) await new Promise((r) => gz.once('drain', r));
  }
  gz.end();
  await ended;
  return Buffer.concat(chunks);
}

/** A gzip stream of `size` zero bytes: a few KB on the wire per MB inflated. */
export function gzipBomb(size: number): Buffer {
  return gzipSync(Buffer.alloc(size, 0), { level: 9 });
}

/** A stream source of `size` bytes that are not what `digest` says (a lying registry). */
export function lyingBlob(size: number, digest = `sha256:${'0'.repeat(64)}`): BlobSource {
  return {
    size,
    digest,
    open: () => Readable.from((function* () {
      let left = size;
      while (left > 0) {
        const n = Math.min(left, 1 << 16);
        left -= n;
        yield Buffer.alloc(n, 0x41);
      }
    })()),
  };
}
