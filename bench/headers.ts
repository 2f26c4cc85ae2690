/**
 * Header inspection of 2 GiB model files: bytes read (counted by the bounded reader) and
 * time. The files are sparse: the header is written, then the file is truncated to 2 GiB,
 * so the weights are holes (reading them would cost nothing on disk, but the reader never
 * asks for them anyway, which `bytesRead` shows).
 *
 * - safetensors shaped like a 1B-parameter BF16 model: 16 layers of 9 tensors, embeddings
 * - GGUF v3 shaped like a Llama 2 model: its 32,000-token tokenizer (tokens, scores, types)
 *   in the metadata, Q4_K_M tensors
 *
 *   node --import tsx bench/headers.ts
 */
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { inspectModelFile } from '../src/core/model/headers';
import { ibytes } from '../src/core/model/headers/reader';
import { ggufHeader, safetensorsHeader, type GgufTensor, type GgufValue, type SafeTensor } from '../test/helpers/modelfiles';
import { tempDir } from '../test/helpers/tmp';

const SIZE = 2 * 1024 ** 3;
const RUNS = 30;

function safetensorsFile(dir: string): string {
  const t: Record<string, SafeTensor> = { 'model.embed_tokens.weight': { dtype: 'BF16', shape: [32000, 2048] } };
  for (let l = 0; l < 16; l++) {
    const p = `model.layers.${l}`;
    for (const n of ['q_proj', 'o_proj']) t[`${p}.self_attn.${n}.weight`] = { dtype: 'BF16', shape: [2048, 2048] };
    for (const n of ['k_proj', 'v_proj']) t[`${p}.self_attn.${n}.weight`] = { dtype: 'BF16', shape: [512, 2048] };
    for (const n of ['gate_proj', 'up_proj']) t[`${p}.mlp.${n}.weight`] = { dtype: 'BF16', shape: [8192, 2048] };
    t[`${p}.mlp.down_proj.weight`] = { dtype: 'BF16', shape: [2048, 8192] };
    t[`${p}.input_layernorm.weight`] = { dtype: 'BF16', shape: [2048] };
    t[`${p}.post_attention_layernorm.weight`] = { dtype: 'BF16', shape: [2048] };
  }
  t['model.norm.weight'] = { dtype: 'BF16', shape: [2048] };
  const { header, dataSize } = safetensorsHeader(t, { format: 'pt' });
  if (header.length + dataSize > SIZE) throw new Error(`the safetensors model needs ${header.length + dataSize} bytes`);
  const p = join(dir, 'model.safetensors');
  writeFileSync(p, header);
  truncateSync(p, SIZE);
  return p;
}

function ggufFile(dir: string): string {
  const vocab = 32000;
  const kv: Record<string, GgufValue> = {
    'general.architecture': { t: 'str', v: 'llama' },
    'general.name': { t: 'str', v: 'bench' },
    'general.file_type': { t: 'u32', v: 15 },
    'llama.context_length': { t: 'u32', v: 4096 },
    'llama.embedding_length': { t: 'u32', v: 4096 },
    'llama.block_count': { t: 'u32', v: 32 },
    'tokenizer.ggml.model': { t: 'str', v: 'llama' },
    'tokenizer.ggml.tokens': { t: 'strs', v: Array.from({ length: vocab }, (_, i) => `▁tok${i}`) },
    'tokenizer.ggml.token_type': { t: 'i32s', v: Array.from({ length: vocab }, () => 1) },
  };
  const tensors: GgufTensor[] = [{ name: 'token_embd.weight', shape: [4096, vocab], type: 12 }];
  for (let l = 0; l < 32; l++) {
    for (const n of ['attn_q', 'attn_k', 'attn_v', 'attn_output']) tensors.push({ name: `blk.${l}.${n}.weight`, shape: [4096, 4096], type: 12 });
    for (const n of ['ffn_gate', 'ffn_up']) tensors.push({ name: `blk.${l}.${n}.weight`, shape: [4096, 11008], type: 12 });
    tensors.push({ name: `blk.${l}.ffn_down.weight`, shape: [11008, 4096], type: 14 });
    tensors.push({ name: `blk.${l}.attn_norm.weight`, shape: [4096], type: 0 }, { name: `blk.${l}.ffn_norm.weight`, shape: [4096], type: 0 });
  }
  tensors.push({ name: 'output_norm.weight', shape: [4096], type: 0 }, { name: 'output.weight', shape: [4096, vocab], type: 14 });
  const { header } = ggufHeader(kv, tensors);
  const p = join(dir, 'model.gguf');
  writeFileSync(p, header);
  truncateSync(p, SIZE);
  return p;
}

async function measure(label: string, path: string): Promise<void> {
  const times: number[] = [];
  let last;
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    last = await inspectModelFile(path);
    times.push(performance.now() - t0);
  }
  const s = last!;
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)]!;
  console.log(`| ${label} | ${ibytes(s.fileSize)} | ${s.tensorCount} tensors, ${(s.parameters! / 1e9).toFixed(2)}B parameters${s.quantization ? `, ${s.quantization}` : ''} | ${s.bytesRead.toLocaleString('en')} B (${ibytes(s.bytesRead)}) | ${times[0]!.toFixed(1)} ms | ${median.toFixed(1)} ms | ${sorted[sorted.length - 1]!.toFixed(1)} ms |`);
  if (!s.complete || s.bytesRead >= 1 << 20) console.log(`  (not complete or over 1 MiB: ${s.warnings.join('; ')})`);
}

async function main(): Promise<void> {
  const dir = tempDir('omlmd-bench-headers-');
  try {
    const st = safetensorsFile(dir);
    const gg = ggufFile(dir);
    console.log(`node ${process.version}, ${RUNS} runs each (first, median, slowest)\n`);
    console.log('| file | size | header says | bytes read | first | median | slowest |');
    console.log('|---|---|---|---|---|---|---|');
    await measure('safetensors', st);
    await measure('GGUF (32k-token tokenizer)', gg);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

void main();
