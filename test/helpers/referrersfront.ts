/**
 * A thin front for the real registry (node:http), for what distribution 2.8.2 lacks or to
 * force a race:
 * - `referrersApi`: serves `GET /v2/<name>/referrers/<digest>[?artifactType=]` from the
 *   manifests with a `subject` that went through it (and forgets deleted ones), answers
 *   their PUT with `OCI-Subject`, as a registry with the OCI 1.1 API does;
 * - `holdTagPuts`: holds PUTs of referrers-index tags (`sha256-<hex>`) until that many are
 *   waiting, then lets them all through at once, so concurrent writers are sure to have read
 *   the same old index (the lost update the tag schema's guard must repair).
 * Everything else goes to the registry untouched.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHash } from 'node:crypto';

export interface FrontOptions {
  referrersApi?: boolean;
  holdTagPuts?: number;
}

export interface ReferrersFront {
  host: string;
  /** Requests seen: `METHOD path`. */
  seen: string[];
  close(): Promise<void>;
}

interface Recorded {
  repo: string;
  subject: string;
  descriptor: Record<string, unknown>;
}

export async function startReferrersFront(upstream: string, opts: FrontOptions = {}): Promise<ReferrersFront> {
  const [upHost, upPort] = upstream.split(':');
  const seen: string[] = [];
  const recorded: Recorded[] = [];
  let held: (() => void)[] = [];
  let holdLeft = opts.holdTagPuts ?? 0;

  const forward = (req: IncomingMessage, res: ServerResponse, body: Buffer, onDone?: (status: number, headers: Record<string, unknown>) => Record<string, string>): void => {
    const up = httpRequest({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: req.headers }, (ur) => {
      const extra = onDone?.(ur.statusCode ?? 502, ur.headers) ?? {};
      res.writeHead(ur.statusCode ?? 502, { ...ur.headers, ...extra });
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    up.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const url = new URL(req.url ?? '/', 'http://front');
      seen.push(`${req.method} ${url.pathname}${url.search}`);
      const referrers = /^\/v2\/(.+)\/referrers\/(sha256:[a-f0-9]{64})$/.exec(url.pathname);
      if (referrers && req.method === 'GET') {
        if (!opts.referrersApi) {
          res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('404 page not found\n');
          return;
        }
        const type = url.searchParams.get('artifactType');
        const manifests = recorded.filter((r) => r.repo === referrers[1] && r.subject === referrers[2] && (type === null || r.descriptor.artifactType === type)).map((r) => r.descriptor);
        const headers: Record<string, string> = { 'content-type': 'application/vnd.oci.image.index.v1+json' };
        if (type !== null) headers['oci-filters-applied'] = 'artifactType';
        res.writeHead(200, headers).end(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests }));
        return;
      }
      const manifest = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(url.pathname);
      if (manifest && req.method === 'PUT' && /^sha256-[a-f0-9]{64}$/.test(manifest[2]!) && holdLeft > 0) {
        holdLeft--;
        held.push(() => forward(req, res, body));
        if (holdLeft === 0) {
          const go = held;
          held = [];
          for (const g of go) g();
        }
        return;
      }
      if (manifest && req.method === 'PUT' && opts.referrersApi) {
        let doc: Record<string, unknown> | undefined;
        try {
          doc = JSON.parse(body.toString('utf8')) as Record<string, unknown>;
        } catch {
          doc = undefined;
        }
        const subject = (doc?.subject as { digest?: string } | undefined)?.digest;
        forward(req, res, body, (status): Record<string, string> => {
          if (!subject || status !== 201 || !doc) return {};
          const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
          const config = doc.config as { mediaType?: string } | undefined;
          const descriptor: Record<string, unknown> = { mediaType: doc.mediaType ?? req.headers['content-type'], digest, size: body.length, artifactType: doc.artifactType ?? config?.mediaType };
          if (doc.annotations) descriptor.annotations = doc.annotations;
          if (!recorded.some((r) => r.repo === manifest[1] && r.descriptor.digest === digest)) recorded.push({ repo: manifest[1]!, subject, descriptor });
          return { 'oci-subject': subject };
        });
        return;
      }
      if (manifest && req.method === 'DELETE' && opts.referrersApi) {
        forward(req, res, body, (status) => {
          if (status === 202) {
            for (let i = recorded.length - 1; i >= 0; i--) if (recorded[i]!.repo === manifest[1] && recorded[i]!.descriptor.digest === manifest[2]) recorded.splice(i, 1);
          }
          return {};
        });
        return;
      }
      forward(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
