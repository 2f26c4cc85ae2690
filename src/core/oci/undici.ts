/**
 * The parts of undici the transport uses, each from its own file: undici's index requires
 * everything it offers (fetch, WebSocket, caches, mocks: about a megabyte), and a command
 * parses whatever its bundle loads before it does any work. `request` is undici's own
 * `request(url, { dispatcher })` for a dispatcher always given (no global one).
 */
/* eslint-disable @typescript-eslint/no-require-imports */
import type * as Undici from 'undici';

// As undici's index does: dispatchers get request/stream/pipeline/upgrade/connect (its proxy agent connects through them).
Object.assign((require('undici/lib/dispatcher/dispatcher') as { prototype: object }).prototype, require('undici/lib/api'));

export const Agent = require('undici/lib/dispatcher/agent') as typeof Undici.Agent;
export const EnvHttpProxyAgent = require('undici/lib/dispatcher/env-http-proxy-agent') as typeof Undici.EnvHttpProxyAgent;
export const buildConnector = require('undici/lib/core/connect') as typeof Undici.buildConnector;
const apiRequest = (require('undici/lib/api') as { request: unknown }).request as (this: Undici.Dispatcher, opts: Undici.Dispatcher.RequestOptions) => Promise<Undici.Dispatcher.ResponseData>;

type RequestOptions = Omit<Undici.Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method: Undici.Dispatcher.HttpMethod; dispatcher: Undici.Dispatcher };

export function request(url: URL, opts: RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  const { dispatcher, ...rest } = opts;
  return apiRequest.call(dispatcher, { ...rest, origin: url.origin, path: url.search ? `${url.pathname}${url.search}` : url.pathname });
}

export type Connector = Undici.buildConnector.connector;
