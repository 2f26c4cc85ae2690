/**
 * A fault-injecting front for the real registry: it forwards every request, except those a
 * rule picks, which it breaks on purpose (drops the connection, answers 5xx/429, corrupts a
 * byte, refuses PATCH, answers PATCH with 201, never answers). It also tunnels CONNECT, so
 * it can stand in as an HTTP proxy. Fault injection is the only place a fake is allowed.
 */
import { createServer, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export type Fault =
  /** Answer this without asking the registry. */
  | { kind: 'status'; status: number; headers?: Record<string, string>; body?: string }
  /** Close the client's connection before anything reaches the registry. */
  | { kind: 'drop' }
  /** Forward, then break both connections after this many request body bytes. */
  | { kind: 'drop-request'; after: number }
  /** Forward, then break the client's connection after this many response body bytes. */
  | { kind: 'drop-response'; after: number }
  /** Forward this many response body bytes, then send nothing more and keep the connection open (a process killed meanwhile). */
  | { kind: 'stall-response'; after: number }
  /** Forward without the Range header: a registry that ignores Range and sends the whole blob. */
  | { kind: 'ignore-range' }
  /** Flip one byte of the response body (at `at`, default 0). */
  | { kind: 'corrupt-response'; at?: number }
  /** Flip one byte of the request body on its way to the registry. */
  | { kind: 'corrupt-request'; at?: number }
  /** Forward, but tell the client another status (ECR's 201 to a PATCH). */
  | { kind: 'rewrite-status'; status: number }
  /** Read the request and never answer. */
  | { kind: 'hang' };

export interface Rule {
  method?: string;
  path?: RegExp;
  /** How many matching requests it breaks (default 1; Infinity for all). */
  times?: number;
  /** Matching requests let through before it starts breaking them. */
  passFirst?: number;
  fault: Fault;
  hits: number;
  /** Matching requests seen, broken or let through. */
  matched: number;
}

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** The fault applied, if any. */
  fault?: Fault['kind'];
  /** Request body bytes received from the client. */
  bodyBytes: number;
  /** Response body bytes sent to the client. */
  responseBytes: number;
  status?: number;
}

export interface FaultProxy {
  /** `127.0.0.1:PORT` */
  host: string;
  seen: Seen[];
  /** `host:port` targets of CONNECT tunnels. */
  tunnels: string[];
  /** Sent on every forwarded response, like Harbor's CSRF cookie. */
  setCookie?: string;
  /** The most requests that were open at once (received, response not finished), per method. */
  maxInFlight: Record<string, number>;
  add(rule: Omit<Rule, 'hits' | 'matched'>): Rule;
  clear(): void;
  close(): Promise<void>;
}

function flip(chunk: Buffer, index: number): Buffer {
  const b = Buffer.from(chunk);
  b[index] = (b[index] ?? 0) ^ 0xff;
  return b;
}

export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const [upHost, upPort] = upstream.split(':');
  const rules: Rule[] = [];
  const seen: Seen[] = [];
  const tunnels: string[] = [];
  const sockets = new Set<Socket>();
  const inFlight: Record<string, number> = {};

  const pick = (req: IncomingMessage): Rule | undefined => {
    for (const r of rules) {
      if ((r.method !== undefined && r.method !== req.method) || (r.path !== undefined && !r.path.test(req.url ?? '')) || r.hits >= (r.times ?? 1)) continue;
      r.matched++;
      if (r.matched <= (r.passFirst ?? 0)) continue;
      r.hits++;
      return r;
    }
    return undefined;
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const rule = pick(req);
    const fault = rule?.fault;
    const entry: Seen = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, fault: fault?.kind, bodyBytes: 0, responseBytes: 0 };
    seen.push(entry);
    const method = req.method ?? '';
    inFlight[method] = (inFlight[method] ?? 0) + 1;
    proxy.maxInFlight[method] = Math.max(proxy.maxInFlight[method] ?? 0, inFlight[method]);
    res.on('close', () => (inFlight[method] = (inFlight[method] ?? 1) - 1));
    req.on('data', (c: Buffer) => (entry.bodyBytes += c.length));
    if (fault?.kind === 'drop') {
      req.socket.destroy();
      return;
    }
    if (fault?.kind === 'hang') {
      req.resume();
      return;
    }
    if (fault?.kind === 'status') {
      req.resume();
      req.on('end', () => {
        entry.status = fault.status;
        res.writeHead(fault.status, { 'content-type': 'application/json', ...fault.headers }).end(fault.body ?? '');
      });
      return;
    }
    const headers = { ...req.headers };
    if (fault?.kind === 'ignore-range') delete headers.range;
    const up = httpRequest({ host: upHost, port: Number(upPort), method: req.method, path: req.url, headers }, (ur) => {
      const status = fault?.kind === 'rewrite-status' ? fault.status : (ur.statusCode ?? 502);
      entry.status = status;
      const headers = { ...ur.headers };
      if (proxy.setCookie) headers['set-cookie'] = [proxy.setCookie];
      res.writeHead(status, headers);
      let sent = 0;
      let flipped = false;
      ur.on('data', (chunk: Buffer) => {
        if (fault?.kind === 'corrupt-response' && !flipped) {
          const at = (fault.at ?? 0) - sent;
          if (at >= 0 && at < chunk.length) {
            chunk = flip(chunk, at);
            flipped = true;
          }
        }
        if (fault?.kind === 'drop-response' && sent + chunk.length > fault.after) {
          res.write(chunk.subarray(0, Math.max(0, fault.after - sent)));
          entry.responseBytes += Math.max(0, fault.after - sent);
          ur.destroy();
          res.socket?.destroy();
          return;
        }
        if (fault?.kind === 'stall-response' && sent + chunk.length > fault.after) {
          if (sent < fault.after) {
            res.write(chunk.subarray(0, fault.after - sent));
            entry.responseBytes += fault.after - sent;
          }
          sent = fault.after;
          ur.destroy();
          return;
        }
        sent += chunk.length;
        entry.responseBytes += chunk.length;
        res.write(chunk);
      });
      ur.on('end', () => res.end());
      ur.on('error', () => {
        if (fault?.kind !== 'stall-response') res.socket?.destroy();
      });
    });
    up.on('error', () => {
      if (!res.headersSent) res.writeHead(502).end();
      else res.socket?.destroy();
    });
    let forwarded = 0;
    let flipped = false;
    req.on('data', (chunk: Buffer) => {
      if (fault?.kind === 'corrupt-request' && !flipped) {
        const at = (fault.at ?? 0) - forwarded;
        if (at >= 0 && at < chunk.length) {
          chunk = flip(chunk, at);
          flipped = true;
        }
      }
      if (fault?.kind === 'drop-request' && forwarded + chunk.length > fault.after) {
        up.write(chunk.subarray(0, Math.max(0, fault.after - forwarded)));
        forwarded = fault.after;
        up.destroy();
        req.socket.destroy();
        return;
      }
      forwarded += chunk.length;
      up.write(chunk);
    });
    req.on('end', () => up.end());
  };

  const server = createServer(handle);
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  // As an HTTP proxy: tunnel CONNECT to the target, counting who asked for what.
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    const target = req.url ?? '';
    tunnels.push(target);
    const [h, p] = target.split(':');
    const upstreamSocket = netConnect(Number(p), h, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length > 0) upstreamSocket.write(head);
      upstreamSocket.pipe(client);
      client.pipe(upstreamSocket);
    });
    sockets.add(upstreamSocket);
    upstreamSocket.on('close', () => sockets.delete(upstreamSocket));
    upstreamSocket.on('error', () => client.destroy());
    client.on('error', () => upstreamSocket.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const proxy: FaultProxy = {
    host: `127.0.0.1:${port}`,
    seen,
    tunnels,
    maxInFlight: {},
    add(rule) {
      const r: Rule = { ...rule, hits: 0, matched: 0 };
      rules.push(r);
      return r;
    },
    clear() {
      rules.length = 0;
      seen.length = 0;
      tunnels.length = 0;
      proxy.maxInFlight = {};
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return proxy;
}
