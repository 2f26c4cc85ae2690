/**
 * The gRPC side of ocicrypt's key-provider protocol: one unary call to
 * `keyprovider.KeyProviderService/WrapKey` or `/UnWrapKey`, whose request and answer are each
 * a message with one `bytes` field (number 1) holding the JSON document a key-provider program
 * reads and writes (keyprovider.ts). Without TLS, as ocicrypt dials (grpc.WithInsecure): the
 * provider is the attestation agent in the same guest, or a local key service.
 *
 * @grpc/grpc-js (the maintained gRPC for Node) carries the call; protobufjs's minimal
 * reader and writer encode the one field, so no .proto is compiled at run time. Loaded only
 * when a gRPC provider is called (keyprovider.ts imports this lazily).
 */
import { credentials, makeGenericClientConstructor, Metadata, status, type CallOptions, type ServiceError } from '@grpc/grpc-js';
import { Reader, Writer } from 'protobufjs/minimal';

export const KEY_PROVIDER_SERVICE = '/keyprovider.KeyProviderService/';

/** `keyProviderKeyWrapProtocolInput` / `…Output`: field 1, bytes. */
export function encodeProtocolMessage(doc: Buffer): Buffer {
  return Buffer.from(Writer.create().uint32((1 << 3) | 2).bytes(doc).finish());
}

/** The bytes of field 1 (the last one, as protobuf merges a repeated scalar); unknown fields skipped. */
export function decodeProtocolMessage(buf: Buffer, maxBytes = Infinity): Buffer {
  const r = Reader.create(buf);
  let out: Buffer = Buffer.alloc(0);
  while (r.pos < r.len) {
    const tag = r.uint32();
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
      const bytes = r.bytes();
      if (bytes.length > maxBytes) throw new Error(`its answer is over ${maxBytes} bytes`);
      out = Buffer.from(bytes);
    } else r.skipType(tag & 7);
  }
  return out;
}

type Method = 'WrapKey' | 'UnWrapKey';

const Client = makeGenericClientConstructor({
  WrapKey: unary('WrapKey'),
  UnWrapKey: unary('UnWrapKey'),
}, 'keyprovider.KeyProviderService');

function unary(name: Method) {
  return {
    path: `${KEY_PROVIDER_SERVICE}${name}`,
    requestStream: false,
    responseStream: false,
    requestSerialize: (doc: Buffer) => encodeProtocolMessage(doc),
    requestDeserialize: (b: Buffer) => decodeProtocolMessage(b),
    responseSerialize: (doc: Buffer) => encodeProtocolMessage(doc),
    responseDeserialize: (b: Buffer) => b,
  };
}

/**
 * Calls the provider at `address` (`host:port` or `unix:/path`) with the JSON document `doc`;
 * its answer's document. Errors carry the gRPC status in words (unavailable: nothing listens).
 */
export async function callKeyProvider(address: string, method: Method, doc: Buffer, opts: { timeoutMs: number; maxBytes: number }): Promise<Buffer> {
  const client = new Client(address, credentials.createInsecure(), {
    'grpc.max_receive_message_length': opts.maxBytes + 64,
    // One call, then closed: no reconnection attempts linger in the background.
    'grpc.enable_retries': 0,
  });
  try {
    const raw = await new Promise<Buffer>((resolve, reject) => {
      const call = client[method] as (req: Buffer, meta: Metadata, options: CallOptions, cb: (err: ServiceError | null, res?: Buffer) => void) => void;
      call.call(client, doc, new Metadata(), { deadline: Date.now() + opts.timeoutMs }, (err, res) => (err ? reject(describe(err, address, opts.timeoutMs)) : resolve(res!)));
    });
    return decodeProtocolMessage(raw, opts.maxBytes);
  } finally {
    client.close();
  }
}

function describe(err: ServiceError, address: string, timeoutMs: number): Error {
  switch (err.code) {
    case status.UNAVAILABLE: return new Error(`nothing answers at ${address} (${err.details || 'unavailable'})`);
    case status.DEADLINE_EXCEEDED: return new Error(`no answer within ${timeoutMs / 1000} s`);
    case status.UNIMPLEMENTED: return new Error(`${address} does not implement keyprovider.KeyProviderService`);
    case status.RESOURCE_EXHAUSTED: return new Error(`its answer is too large (${err.details})`);
    default: return new Error(`${status[err.code] ?? err.code}${err.details ? `: ${err.details.slice(0, 300)}` : ''}`);
  }
}
