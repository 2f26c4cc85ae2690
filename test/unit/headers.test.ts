/**
 * Header inspection (src/core/model/headers/): each format read from files written here by
 * code (and the repo's sample/model.onnx and sample/model.joblib, real files), and hostile
 * headers, each of which must end in an INVALID_MODEL_FILE at once, having read no more
 * than the budget (the reader is the only place bytes come in, so bytesRead bounds memory).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { OmlmdError } from '../../src/core/errors';
import { headerFindings } from '../../src/extension/model/pushFlow';
import { OmlmdClient } from '../../src/core/client';
import { inspectBlobHeader, inspectModelFile, inspectSource, modelPackFields, paramSize, prefillMetadata, suggestMetadata } from '../../src/core/model/headers';
import { BoundedReader, openFileSource } from '../../src/core/model/headers/reader';
import { evilPickle, ggufHeader, onnxModel, pbBytes, pbVarint, safetensorsHeader, stackGlobalPickle, varint, zipArchive } from '../helpers/modelfiles';
import { tempDir } from '../helpers/tmp';

const dir = tempDir('omlmd-headers-');
const SAMPLE = join(__dirname, '..', '..', 'sample');
let seq = 0;

/** A file of `header` followed by `dataSize` bytes of hole (sparse: nothing is written there). */
function write(name: string, header: Buffer, dataSize = 0): string {
  const p = join(dir, `${++seq}-${name}`);
  writeFileSync(p, header);
  if (dataSize) truncateSync(p, header.length + dataSize);
  return p;
}

async function refused(p: string, pattern: RegExp, maxBytes?: number): Promise<void> {
  await assert.rejects(inspectModelFile(p, { maxBytes }), (e: unknown) => {
    assert.ok(e instanceof OmlmdError, String(e));
    assert.equal(e.code, 'INVALID_MODEL_FILE', e.message);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith(`cannot read ${p}: `), e.message);
    return true;
  });
}

/** What the reader fetched before the refusal: counted through a source of our own. */
async function bytesReadBefore(p: string, maxBytes = 1 << 20): Promise<number> {
  const src = await openFileSource(p);
  let read = 0;
  const counting = { ...src, size: src.size, blockSize: src.blockSize, read: async (o: number, n: number) => { const b = await src.read(o, n); read += b.length; return b; } };
  await assert.rejects(inspectSource(counting, p, maxBytes), OmlmdError);
  await src.close();
  return read;
}

describe('safetensors', () => {
  test('tensor count, dtypes, parameter count and __metadata__ from the header alone', async () => {
    const { header, dataSize } = safetensorsHeader({
      'embed.weight': { dtype: 'BF16', shape: [1000, 64] },
      'layer.0.weight': { dtype: 'BF16', shape: [64, 64] },
      'norm.weight': { dtype: 'F32', shape: [64] },
    }, { format: 'pt' });
    const p = write('model.safetensors', header, dataSize);
    const s = await inspectModelFile(p);
    assert.equal(s.format, 'safetensors');
    assert.equal(s.tensorCount, 3);
    assert.equal(s.parameters, 64000 + 4096 + 64);
    assert.deepEqual(s.dtypes, { BF16: 2, F32: 1 });
    assert.equal(s.framework, 'pytorch');
    assert.deepEqual(s.metadata, { format: 'pt' });
    assert.equal(s.complete, true);
    assert.ok(s.bytesRead < 16 * 1024 + header.length, `read ${s.bytesRead}`);
    assert.deepEqual(s.warnings, []);
  });

  test('hostile: a header length of 2^60 is refused from its first 16 bytes', async () => {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(1n << 60n);
    const p = write('evil.safetensors', Buffer.concat([len, Buffer.from('{"a":1}')]), 1 << 20);
    await refused(p, /safetensors header length is 1152921504606846976 bytes, more than the file/);
    assert.ok((await bytesReadBefore(p)) <= 16 * 1024);
  });

  test('hostile: not JSON, a negative shape, offsets that are no range', async () => {
    const bad = (json: string): Buffer => {
      const b = Buffer.from(json);
      const len = Buffer.alloc(8);
      len.writeBigUInt64LE(BigInt(b.length));
      return Buffer.concat([len, b]);
    };
    await refused(write('a.safetensors', bad('{"x": [1, 2')), /not JSON/);
    await refused(write('b.safetensors', bad('{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}')), /shape entry that is not a count/);
    await refused(write('c.safetensors', bad('{"x": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}')), /data offsets that are not a range/);
    await refused(write('d.safetensors', bad('[1]')), /not a JSON object/);
    await refused(write('e.safetensors', Buffer.from([1, 2, 3])), /8-byte header length/);
  });

  test('a header larger than the budget is reported, not read', async () => {
    const tensors: Record<string, { dtype: string; shape: number[] }> = {};
    for (let i = 0; i < 3000; i++) tensors[`model.layers.${i}.self_attn.q_proj.weight`] = { dtype: 'F16', shape: [4, 4] };
    const { header, dataSize } = safetensorsHeader(tensors);
    assert.ok(header.length > 64 * 1024);
    const p = write('big.safetensors', header, dataSize);
    const s = await inspectModelFile(p, { maxBytes: 64 * 1024 });
    assert.equal(s.complete, false);
    assert.equal(s.parameters, undefined);
    assert.match(s.warnings.join('\n'), /more than the 64 KiB read budget/);
    assert.ok(s.bytesRead <= 64 * 1024);
    assert.equal((await inspectModelFile(p)).parameters, 3000 * 16);
  });
});

describe('GGUF', () => {
  const kv = {
    'general.architecture': { t: 'str', v: 'llama' },
    'general.name': { t: 'str', v: 'tiny' },
    'general.file_type': { t: 'u32', v: 15 },
    'llama.context_length': { t: 'u32', v: 4096 },
    'llama.rope.freq_base': { t: 'f32', v: 10000 },
    'tokenizer.ggml.tokens': { t: 'strs', v: Array.from({ length: 500 }, (_, i) => `tok${i}`) },
    'tokenizer.ggml.token_type': { t: 'i32s', v: Array.from({ length: 500 }, () => 1) },
  } as const;
  const tensors = [
    { name: 'token_embd.weight', shape: [64, 500], type: 12 },
    { name: 'blk.0.attn_q.weight', shape: [64, 64], type: 12 },
    { name: 'output_norm.weight', shape: [64], type: 0 },
    { name: 'output.weight', shape: [64, 500], type: 14 },
  ];

  test('architecture, quantisation, context length and parameter count; arrays walked past', async () => {
    const { header, dataSize } = ggufHeader(kv, tensors);
    const p = write('model.gguf', header, dataSize);
    const s = await inspectModelFile(p);
    assert.equal(s.format, 'gguf');
    assert.equal(s.formatVersion, '3');
    assert.equal(s.architecture, 'llama');
    assert.equal(s.quantization, 'Q4_K_M');
    assert.equal(s.contextLength, 4096);
    assert.equal(s.tensorCount, 4);
    assert.equal(s.parameters, 64 * 500 * 2 + 64 * 64 + 64);
    assert.deepEqual(s.dtypes, { Q4_K: 2, F32: 1, Q6_K: 1 });
    assert.equal(s.metadata?.['general.name'], 'tiny');
    assert.equal(s.complete, true);
  });

  test('without general.file_type the quantisation is the type holding the most elements', async () => {
    const { 'general.file_type': _, ...rest } = kv;
    const { header, dataSize } = ggufHeader(rest, tensors);
    assert.equal((await inspectModelFile(write('m.gguf', header, dataSize))).quantization, 'Q4_K');
  });

  test('hostile: a billion keys, a billion tensors, a string of 2^62 bytes, an unknown type, a bad version', async () => {
    const billion = ggufHeader({ 'general.architecture': { t: 'str', v: 'llama' } }, [], { kvCount: 1_000_000_000n });
    const p = write('keys.gguf', billion.header, 1 << 30);
    await refused(p, /holds 1000000000 metadata keys, more than any model has/);
    assert.ok((await bytesReadBefore(p)) <= 16 * 1024);
    const few = ggufHeader({}, [], { kvCount: 100_000n });
    await refused(write('keys2.gguf', few.header), /holds 100000 metadata keys, more than a file of/);
    await refused(write('tensors.gguf', ggufHeader({}, [], { tensorCount: 1_000_000_000n }).header, 1 << 20), /holds 1000000000 tensors/);
    const longString = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 0, 0, 0, 0, 0, 0x40])]);
    await refused(write('str.gguf', longString, 4096), /a string length is 4611686018427387904, more than/);
    const unknownType = Buffer.concat([Buffer.from('GGUF'), Buffer.from([3, 0, 0, 0]), Buffer.alloc(8), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from([1, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('k'), Buffer.from([99, 0, 0, 0])]);
    await refused(write('type.gguf', unknownType, 64), /GGUF value type 99/);
    await refused(write('ver.gguf', Buffer.concat([Buffer.from('GGUF'), Buffer.from([9, 0, 0, 0]), Buffer.alloc(16)])), /GGUF version 9/);
  });

  test('a tokenizer larger than the budget: the keys before it are read, the rest reported', async () => {
    const big = { ...kv, 'tokenizer.ggml.tokens': { t: 'strs', v: Array.from({ length: 20000 }, (_, i) => `a-rather-long-token-${i}`) } } as const;
    const { header, dataSize } = ggufHeader(big, tensors);
    assert.ok(header.length > 256 * 1024);
    const s = await inspectModelFile(write('tok.gguf', header, dataSize), { maxBytes: 256 * 1024 });
    assert.equal(s.architecture, 'llama');
    assert.equal(s.contextLength, 4096);
    assert.equal(s.parameters, undefined);
    assert.equal(s.complete, false);
    assert.match(s.warnings.join('\n'), /GGUF metadata go on past the 256 KiB read budget/);
    assert.ok(s.bytesRead <= 256 * 1024);
  });
});

describe('ONNX', () => {
  test('the repo sample: IR version, producer, opset, inputs and outputs, initializer parameters', async () => {
    const s = await inspectModelFile(join(SAMPLE, 'model.onnx'));
    assert.equal(s.format, 'onnx');
    assert.equal(s.formatVersion, '8');
    assert.equal(s.framework, 'omlmd-sample');
    assert.deepEqual(s.opsets, { 'ai.onnx': 15 });
    assert.deepEqual(s.inputs, [{ name: 'X', type: 'float32[N,4]' }]);
    assert.deepEqual(s.outputs, [{ name: 'probabilities', type: 'float32[N,3]' }]);
    assert.equal(s.parameters, 15);
  });

  test('initializer data is skipped, never read; initializers listed as inputs are not inputs', async () => {
    const p = write('big.onnx', onnxModel({ dims: [1024, 1024] }));
    const s = await inspectModelFile(p);
    assert.equal(s.parameters, 1024 * 1024);
    assert.equal(s.framework, 'pytorch');
    assert.equal(s.frameworkVersion, '2.3.0');
    assert.deepEqual(s.opsets, { 'ai.onnx': 17 });
    assert.deepEqual(s.inputs, [{ name: 'X', type: 'float32[batch,1024]' }]);
    assert.deepEqual(s.outputs, [{ name: 'Y', type: 'float32[batch,1024]' }]);
    assert.ok(s.bytesRead < 64 * 1024, `read ${s.bytesRead} of ${s.fileSize}`);
  });

  test('hostile: random bytes, a field longer than its message, a varint that never ends, a truncated model', async () => {
    await refused(write('r.onnx', Buffer.from('this is not protobuf at all, just text\n')), /not an ONNX model|past the end|more than/);
    await refused(write('len.onnx', Buffer.concat([pbVarint(1, 8), varint((7 << 3) | 2), varint(1n << 40n), Buffer.alloc(10)])), /says it is 1099511627776 bytes, more than the 10 B left/);
    await refused(write('v.onnx', Buffer.concat([Buffer.from([0x08]), Buffer.alloc(12, 0xff)])), /varint .* runs over 10 bytes/);
    const whole = onnxModel({ dims: [4, 4] });
    await refused(write('t.onnx', whole.subarray(0, whole.length - 30)), /.+/);
    await refused(write('nograph.onnx', Buffer.concat([pbVarint(1, 8), pbBytes(2, 'x')])), /no ONNX graph/);
  });
});

describe('pickle', () => {
  test('protocol 2 by hand: GLOBAL os system is listed and flagged', async () => {
    const s = await inspectModelFile(write('evil.pkl', evilPickle()));
    assert.equal(s.format, 'pickle');
    assert.deepEqual(s.pickle?.imports, ['os.system']);
    assert.deepEqual(s.pickle?.dangerous, ['os.system']);
    assert.equal(s.pickle?.protocol, 2);
    assert.match(s.warnings[0]!, /^loading this file runs code \(it is a pickle\): it imports os\.system; os\.system can run commands or code/);
  });

  test('STACK_GLOBAL with strings from the memo', async () => {
    const s = await inspectModelFile(write('sg.pkl', stackGlobalPickle()));
    assert.deepEqual(s.pickle?.imports, ['collections.OrderedDict', 'builtins.eval']);
    assert.deepEqual(s.pickle?.dangerous, ['builtins.eval']);
    assert.equal(s.pickle?.complete, true);
  });

  test('Python\'s own pickles, protocols 0 to 5', async () => {
    for (let proto = 0; proto <= 5; proto++) {
      const p = join(dir, `py${proto}.pkl`);
      execFileSync('python3', ['-c', `
import os, pickle, collections, sys
class Evil:
    def __reduce__(self):
        return (os.system, ('echo pwned',))
data = {'model': collections.OrderedDict(a=1), 'weights': bytes(100000), 'x': Evil()}
open(sys.argv[1], 'wb').write(pickle.dumps(data, protocol=${proto}))
`, p]);
      const s = await inspectModelFile(p);
      assert.deepEqual(s.pickle?.imports.filter((i) => !i.startsWith('_codecs') && !i.startsWith('__builtin__') && !i.startsWith('builtins.bytes')), ['collections.OrderedDict', 'posix.system'], `protocol ${proto}: ${s.pickle?.imports.join(' ')}`);
      assert.ok(s.pickle?.dangerous.includes('posix.system'), `protocol ${proto}`);
      assert.equal(s.pickle?.complete, true, `protocol ${proto}: ${s.warnings.join('; ')}`);
    }
  });

  test('the repo sample joblib: a pickle that imports nothing, still code on load', async () => {
    const s = await inspectModelFile(join(SAMPLE, 'model.joblib'));
    assert.equal(s.format, 'pickle');
    assert.equal(s.framework, 'joblib');
    assert.deepEqual(s.pickle?.imports, []);
    assert.match(s.warnings[0]!, /loading this file runs code .*it imports nothing/);
  });

  test('a .bin or .dat of raw data is raw data, not a pickle (no "runs code" warning, no refusal); a .bin that is a pickle (protocol 0 too) still is one', async () => {
    // Bytes that begin with opcodes by chance (0x4b BININT1 takes one byte) and then stop being a pickle.
    for (const name of ['weights.bin', 'vocab.dat']) {
      const s = await inspectModelFile(write(name, Buffer.concat([Buffer.from([0x4b, 0x07, 0x4b, 0x09, 0x2b]), randomBytes(4000)])));
      assert.equal(s.format, 'unknown', name);
      assert.equal(s.pickle, undefined);
      assert.deepEqual(s.warnings.filter((w) => /pickle|runs code/.test(w)), [], name);
    }
    // The same bytes as a .pkl are refused: the name says pickle, the bytes say otherwise.
    await refused(write('raw.pkl', Buffer.concat([Buffer.from([0x4b, 0x07, 0x4b, 0x09, 0x2b]), randomBytes(100)])), /nothing before it made a pickle: this is not a pickle/);
    for (const proto of [0, 2]) {
      const p = join(dir, `py${proto}.bin`);
      execFileSync('python3', ['-c', `import pickle, collections, sys; open(sys.argv[1], 'wb').write(pickle.dumps({'m': collections.OrderedDict(a=1)}, protocol=${proto}))`, p]);
      const s = await inspectModelFile(p);
      assert.equal(s.format, 'pickle', `protocol ${proto}`);
      assert.ok(s.pickle?.imports.includes('collections.OrderedDict'), `protocol ${proto}: ${s.pickle?.imports.join(' ')}`);
      assert.match(s.warnings[0]!, /loading this file runs code/);
    }
  });

  test('random .bin files that start like a pickle are raw data: a PROTO then no opcode, a copyreg EXT2, a zlib marker that opens into no pickle; an import before the bad byte, or a zlib pickle, still warns', async () => {
    const tail = Buffer.from([0xd0, 0xd1, 0xd2, 0xd3]); // 0xd0 is no opcode
    const cases: [string, Buffer][] = [
      ['proto.bin', Buffer.concat([Buffer.from([0x80, 0x02, 0x4b, 0x07]), tail, randomBytes(2000)])],
      ['ext2.bin', Buffer.concat([Buffer.from([0x83, 0x12, 0x34]), tail, randomBytes(2000)])],
      ['zlib.bin', Buffer.concat([Buffer.from([0x78, 0x35]), randomBytes(2000)])],
      ['gzip.dat', Buffer.concat([Buffer.from([0x1f, 0x8b, 0x08, 0x00]), randomBytes(2000)])],
    ];
    for (const [name, bytes] of cases) {
      const s = await inspectModelFile(write(name, bytes));
      assert.equal(s.format, 'unknown', name);
      assert.equal(s.pickle, undefined, name);
      assert.deepEqual(s.warnings.filter((w) => /pickle|runs code/.test(w)), [], name);
    }
    // A call made before the garbage has run by the time pickle.load fails on it: still a warning.
    const evil = await inspectModelFile(write('evil.bin', Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from("cos\nsystem\n(S'id'\ntR"), tail])));
    assert.equal(evil.format, 'pickle');
    assert.deepEqual(evil.pickle?.dangerous, ['os.system']);
    assert.match(evil.warnings[0]!, /loading this file runs code/);
    // joblib's zlib pickle under a .bin name: it opens into a PROTO, so it is one.
    const z = join(dir, 'model.bin');
    execFileSync('python3', ['-c', "import pickle, zlib, sys; open(sys.argv[1], 'wb').write(zlib.compress(pickle.dumps({'a': 1}, protocol=4)))", z]);
    const zs = await inspectModelFile(z);
    assert.equal(zs.format, 'pickle');
    assert.match(zs.warnings.join('\n'), /zlib-compressed/);
    // The same bytes as a .pkl: the name says pickle, so a bad byte is reported, not dropped.
    const named = await inspectModelFile(write('proto.pkl', cases[0]![1]));
    assert.equal(named.format, 'pickle');
    assert.match(named.warnings.join('\n'), /is no opcode/);
  });

  test('hostile: not a pickle, a BINBYTES longer than the file, an unknown protocol', async () => {
    await refused(write('text.pkl', Buffer.from('{"json": 1}')), /byte 0x7b at offset 0 is not a pickle opcode: this is not a pickle/);
    await refused(write('len.pkl', Buffer.from([0x80, 0x04, 0x42, 0xff, 0xff, 0xff, 0x7f, 0x2e])), /says it is 2147483647 bytes, more than the 1 left/);
    await refused(write('proto.pkl', Buffer.from([0x80, 0x09, 0x2e])), /pickle protocol 9/);
  });

  test('a pickle larger than the budget: imports of what was read, marked incomplete', async () => {
    const filler = Buffer.concat(Array.from({ length: 20000 }, () => Buffer.from([0x4b, 0x01, 0x30])));
    const p = write('long.pkl', Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('cos\nsystem\n'), Buffer.from([0x30]), filler, Buffer.from('csubprocess\nPopen\n.')]));
    const s = await inspectModelFile(p, { maxBytes: 16 * 1024 });
    assert.deepEqual(s.pickle?.imports, ['os.system']);
    assert.equal(s.pickle?.complete, false);
    assert.equal(s.complete, false);
    assert.match(s.warnings.join('\n'), /as far as scanned/);
    assert.deepEqual((await inspectModelFile(p)).pickle?.imports, ['os.system', 'subprocess.Popen']);
  });
});

describe('archives and HDF5', () => {
  test('a PyTorch zip: format version, data.pkl scanned in place', async () => {
    const pkl = Buffer.concat([Buffer.from([0x80, 0x02]), Buffer.from('ccollections\nOrderedDict\n)R'), Buffer.from('ctorch._utils\n_rebuild_tensor_v2\n'), Buffer.from('0.')]);
    const p = write('model.pt', zipArchive([
      { name: 'archive/data.pkl', data: pkl },
      { name: 'archive/byteorder', data: Buffer.from('little') },
      { name: 'archive/data/0', data: Buffer.alloc(4096) },
      { name: 'archive/data/1', data: Buffer.alloc(4096) },
      { name: 'archive/version', data: Buffer.from('3\n') },
    ]));
    const s = await inspectModelFile(p);
    assert.equal(s.format, 'pytorch');
    assert.equal(s.formatVersion, '3');
    assert.equal(s.tensorCount, 2);
    assert.deepEqual(s.pickle?.imports, ['collections.OrderedDict', 'torch._utils._rebuild_tensor_v2']);
    assert.equal(s.pickle?.member, 'archive/data.pkl');
    assert.match(s.warnings[0]!, /runs code \(it is a pickle in archive\/data.pkl\)/);
  });

  test('a zip written by Python\'s zipfile with a pickle member', async () => {
    const p = join(dir, 'py.pt');
    execFileSync('python3', ['-c', `
import zipfile, pickle, collections, sys
with zipfile.ZipFile(sys.argv[1], 'w') as z:
    z.writestr('m/data.pkl', pickle.dumps(collections.OrderedDict(a=1), protocol=2))
    z.writestr('m/version', '3\\n')
    z.writestr('m/data/0', bytes(1000))
`, p]);
    const s = await inspectModelFile(p);
    assert.equal(s.format, 'pytorch');
    assert.deepEqual(s.pickle?.imports, ['collections.OrderedDict']);
  });

  test('a .keras archive: Keras version and model class from deflated members', async () => {
    const p = write('m.keras', zipArchive([
      { name: 'metadata.json', data: Buffer.from(JSON.stringify({ keras_version: '3.3.3', date_saved: '2024-05-01@10:00:00' })), deflate: true },
      { name: 'config.json', data: Buffer.from(JSON.stringify({ module: 'keras', class_name: 'Sequential', config: { name: 's' } })), deflate: true },
      { name: 'model.weights.h5', data: Buffer.alloc(2048) },
    ]));
    const s = await inspectModelFile(p);
    assert.equal(s.format, 'keras');
    assert.equal(s.frameworkVersion, '3.3.3');
    assert.equal(s.architecture, 'Sequential');
  });

  test('hostile zips: no end record, a central directory past the end, an entry count it cannot hold', async () => {
    await refused(write('x.zip', Buffer.concat([Buffer.from([0x50, 0x4b, 0x03, 0x04]), Buffer.alloc(100)])), /no zip end-of-central-directory record/);
    const z = zipArchive([{ name: 'a', data: Buffer.from('x') }]);
    const past = Buffer.from(z);
    past.writeUInt32LE(1 << 30, past.length - 6);
    await refused(write('past.zip', past), /central directory .* lies past the end/);
    const many = Buffer.from(z);
    many.writeUInt16LE(60000, many.length - 12);
    await refused(write('many.zip', many), /holds 60000 entries/);
  });

  test('HDF5: signature, superblock, Keras attributes when they are in the first bytes', async () => {
    const sig = Buffer.from([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a, 0x00]);
    const keras = write('m.h5', Buffer.concat([sig, Buffer.alloc(200), Buffer.from('keras_version\0\0\0'), Buffer.alloc(24), Buffer.from('2.15.0\0'), Buffer.from('backend\0'), Buffer.alloc(16), Buffer.from('tensorflow\0')]), 1 << 20);
    const s = await inspectModelFile(keras);
    assert.equal(s.format, 'keras');
    assert.equal(s.frameworkVersion, '2.15.0');
    assert.deepEqual(s.metadata, { backend: 'tensorflow' });
    const plain = await inspectModelFile(write('d.h5', Buffer.concat([sig, Buffer.alloc(100)])));
    assert.equal(plain.format, 'hdf5');
    assert.equal(plain.formatVersion, 'superblock 0');
    await refused(write('v.h5', Buffer.concat([sig.subarray(0, 8), Buffer.from([7])])), /superblock version 7/);
  });
});

describe('budget, suggestions, ModelPack fields', () => {
  test('the reader never fetches past its budget', async () => {
    const p = write('f.bin', Buffer.alloc(100_000));
    const src = await openFileSource(p);
    const r = new BoundedReader(src, 50_000, p);
    await r.bytes(0, 40_000);
    await assert.rejects(r.bytes(45_000, 20_000), /read budget/);
    assert.ok(r.bytesRead <= 50_000);
    await src.close();
    await assert.rejects(inspectModelFile(p, { maxBytes: 64 << 20 }), (e: unknown) => OmlmdError.is(e, 'USAGE'));
  });

  test('an unknown file is not an error', async () => {
    const s = await inspectModelFile(write('notes.txt', Buffer.from('hello')));
    assert.equal(s.format, 'unknown');
    assert.deepEqual(s.warnings, []);
  });

  test('suggested metadata, filled only where the user left it out', async () => {
    const a = safetensorsHeader({ w: { dtype: 'BF16', shape: [1000, 1000] } });
    const b = safetensorsHeader({ v: { dtype: 'BF16', shape: [500, 1000] }, n: { dtype: 'F32', shape: [1000] } });
    const s1 = await inspectModelFile(write('model-00001-of-00002.safetensors', a.header, a.dataSize));
    const s2 = await inspectModelFile(write('model-00002-of-00002.safetensors', b.header, b.dataSize));
    const small = await inspectModelFile(join(SAMPLE, 'model.onnx'));
    const md = suggestMetadata([s1, s2, small]);
    assert.deepEqual(md, { model_format_name: 'safetensors', customProperties: { parameters: 1_501_000, dtype: 'BF16, F32' } });
    const { metadata, filled } = prefillMetadata({ name: 'x', customProperties: { dtype: 'mine' } }, md);
    assert.deepEqual(metadata, { name: 'x', model_format_name: 'safetensors', customProperties: { dtype: 'mine', parameters: 1_501_000 } });
    assert.deepEqual(filled, ['model_format_name', 'customProperties.parameters']);
    const kept = prefillMetadata({ model_format_name: 'pytorch' }, { model_format_name: 'onnx', model_format_version: '8' });
    assert.deepEqual(kept.metadata, { model_format_name: 'pytorch' });
    assert.deepEqual(modelPackFields([s1, s2]), { format: 'safetensors', paramSize: '1.5m', precision: 'mixed' });
    const joblib = await inspectModelFile(join(SAMPLE, 'model.joblib'));
    assert.ok(joblib.fileSize > small.fileSize);
    assert.equal(suggestMetadata([joblib, small]).model_format_name, 'onnx', 'a tensor format before a larger pickle');
    assert.equal(suggestMetadata([joblib]).model_format_name, 'joblib');
    assert.deepEqual(suggestMetadata([small]), { model_format_name: 'onnx', model_format_version: '8', customProperties: { parameters: 15, dtype: 'float32' } });
  });

  test('GGUF ModelPack fields; paramSize as the spec writes it', async () => {
    const { header, dataSize } = ggufHeader({ 'general.architecture': { t: 'str', v: 'qwen2' }, 'general.file_type': { t: 'u32', v: 7 } }, [{ name: 'w', shape: [1000, 1500], type: 8 }]);
    const s = await inspectModelFile(write('q.gguf', header, dataSize));
    assert.deepEqual(modelPackFields([s]), { format: 'gguf', architecture: 'qwen2', paramSize: '1.5m', quantization: 'q8_0' });
    assert.deepEqual([6.7e9, 8e9, 125e6, 1.2e12, 305, 999_999].map(paramSize), ['6.7b', '8b', '125m', '1.2t', '0.3k', '1m']);
    assert.equal(paramSize(15), undefined);
  });
});

describe('a blob\'s header', () => {
  test('read with ranged reads of the blob (an OCI layout here), bounded the same way', async () => {
    const { header, dataSize } = safetensorsHeader({ w: { dtype: 'F16', shape: [256, 256] } });
    const file = write('w.safetensors', header, dataSize);
    const client = new OmlmdClient({ home: join(dir, 'home') });
    const layout = join(dir, 'layout');
    await client.push(`oci:${layout}:v1`, { paths: [file], metadata: { name: 'w' } });
    const info = await client.inspect(`oci:${layout}:v1`);
    const layer = info.view.files.find((f) => f.path.endsWith('.safetensors'))!;
    const repo = await client.repository(`oci:${layout}:v1`);
    const s = await inspectBlobHeader(repo, layer.descriptor, layer.path);
    assert.equal(s.format, 'safetensors');
    assert.equal(s.parameters, 65536);
    assert.ok(s.bytesRead < 128 * 1024, `read ${s.bytesRead} of ${s.fileSize}`);
  });
});

describe('the extension\'s push flow', () => {
  test('the editor gets the headers, the warnings, and metadata filled where the user had none', async () => {
    const folder = join(dir, 'push-flow');
    mkdirSync(folder);
    const { header, dataSize } = safetensorsHeader({ w: { dtype: 'F16', shape: [10, 10] } });
    writeFileSync(join(folder, 'model.safetensors'), header);
    truncateSync(join(folder, 'model.safetensors'), header.length + dataSize);
    writeFileSync(join(folder, 'scaler.pkl'), evilPickle());
    writeFileSync(join(folder, 'broken.onnx'), Buffer.from([0x08, 0xff]));
    writeFileSync(join(folder, 'README.md'), '# model');
    const { metadata, found } = await headerFindings([folder], { name: 'm', customProperties: { parameters: 7 } });
    assert.deepEqual(metadata, { name: 'm', model_format_name: 'safetensors', customProperties: { parameters: 7, dtype: 'F16' } });
    assert.deepEqual(found.headers.map((h) => h.split(':')[0]), ['push-flow/model.safetensors', 'push-flow/scaler.pkl']);
    assert.equal(found.warnings.length, 2);
    assert.match(found.warnings[0]!, /^push-flow\/broken.onnx: the file ended early|^push-flow\/broken.onnx: /);
    assert.match(found.warnings[1]!, /^push-flow\/scaler.pkl: loading this file runs code .*os\.system/);
  });
});
