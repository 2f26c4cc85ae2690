import { basename, extname, isAbsolute, join, normalize } from 'node:path';
import { l10n } from './l10n';

/**
 * Finds what a notebook produced, from its cells alone (no kernel): model files written by
 * save calls in the sources, model files in its folder changed since it last ran, the
 * framework from its imports, and metrics printed in its outputs. Pure, so it is tested
 * without VS Code; the extension feeds it the open notebook's cells.
 */

export interface ScanCell {
  kind: 'code' | 'markup';
  source: string;
  /** Text of the cell's saved outputs (stream, text/plain, ...). */
  outputs: string[];
  /** When the cell last started running in this session, if known (ms since epoch). */
  lastRunStart?: number;
}

export interface FolderFile {
  path: string;
  mtimeMs: number;
  isDirectory?: boolean;
  /** A symbolic link: offered, never pre-selected (it may lead anywhere, a private key included). */
  isSymbolicLink?: boolean;
}

export interface ModelCandidate {
  path: string;
  /** Why it is offered: the call that wrote it, or that it changed after the notebook ran. */
  reason: string;
  exists: boolean;
  /** It is a symbolic link: shown as one, and not pre-selected. */
  link?: boolean;
}

export interface ScanResult {
  candidates: ModelCandidate[];
  name: string;
  framework?: string;
  modelFormatName?: string;
  metrics: Record<string, number>;
}

export const MODEL_EXTENSIONS = ['.onnx', '.joblib', '.pkl', '.pickle', '.safetensors', '.pt', '.pth', '.gguf', '.ggml', '.keras', '.h5', '.hdf5', '.tflite', '.pb', '.bin', '.ckpt', '.mlmodel', '.pmml', '.mar', '.npz', '.ubj', '.model', '.cbm', '.lgb'];

const FORMAT_BY_EXT: Record<string, string> = {
  '.onnx': 'onnx', '.safetensors': 'safetensors', '.gguf': 'gguf', '.ggml': 'ggml', '.pt': 'pytorch', '.pth': 'pytorch', '.ckpt': 'pytorch',
  '.keras': 'tensorflow', '.h5': 'tensorflow', '.hdf5': 'tensorflow', '.pb': 'tensorflow', '.tflite': 'tflite', '.pmml': 'pmml',
  '.mlmodel': 'coreml', '.mar': 'pytorch', '.ubj': 'xgboost', '.cbm': 'catboost', '.lgb': 'lightgbm',
};

/** Python import → KServe-style model format name. */
const FRAMEWORKS: [RegExp, string][] = [
  [/^\s*(?:import|from)\s+transformers\b/m, 'huggingface'],
  [/^\s*(?:import|from)\s+torch\b/m, 'pytorch'],
  [/^\s*(?:import|from)\s+(?:tensorflow|keras)\b/m, 'tensorflow'],
  [/^\s*(?:import|from)\s+xgboost\b/m, 'xgboost'],
  [/^\s*(?:import|from)\s+lightgbm\b/m, 'lightgbm'],
  [/^\s*(?:import|from)\s+catboost\b/m, 'catboost'],
  [/^\s*(?:import|from)\s+sklearn\b/m, 'sklearn'],
  [/^\s*(?:import|from)\s+onnx\b/m, 'onnx'],
];

/** The model format a file name suggests, with the notebook's framework for pickles. */
export function formatForFile(path: string, framework?: string): string | undefined {
  const ext = extname(path).toLowerCase();
  if (FORMAT_BY_EXT[ext]) return FORMAT_BY_EXT[ext];
  if (['.joblib', '.pkl', '.pickle'].includes(ext)) return framework && ['sklearn', 'xgboost', 'lightgbm', 'catboost'].includes(framework) ? framework : framework ?? 'sklearn';
  return framework;
}

export function isModelFile(path: string): boolean {
  return MODEL_EXTENSIONS.includes(extname(path).toLowerCase());
}

const STRING = String.raw`(?:r|f|b|rb|br)?(?:"([^"\n]*)"|'([^'\n]*)')`;
const SAVE_CALL = /\b((?:joblib|pickle|torch|onnx|skl2onnx|tf\.saved_model|mlflow\.\w+|keras\.models|safetensors\.\w+|np)\.(?:dump|save|save_model|save_file|export)|\.(?:save|save_model|save_pretrained|save_weights|export_model|write_model|to_onnx|dump_model)|(?:save_model|save_file|dump))\s*\(/g;
const OPEN_WRITE = new RegExp(String.raw`\bopen\(\s*(${STRING}|[A-Za-z_]\w*)\s*,\s*(?:mode\s*=\s*)?['"][wax]b?\+?['"]`, 'g');
const ASSIGN = new RegExp(String.raw`^\s*([A-Za-z_]\w*)\s*=\s*${STRING}\s*$`, 'gm');
const METRIC_KEY = /(acc|accuracy|precision|recall|f1|auc|roc|loss|rmse|mse|mae|r2|score|bleu|rouge|perplexity|iou|map|error)/i;

function stringValue(m: RegExpExecArray, first: number): string | undefined {
  return m[first] ?? m[first + 1];
}

/** The arguments text of a call starting at `open` (index of the opening parenthesis). */
function callArgs(src: string, open: number): string {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    const c = src[i];
    if (c === '(') depth++;
    else if (c === ')' && --depth === 0) return src.slice(open + 1, i);
  }
  return src.slice(open + 1);
}

/** Paths written by save calls (string literals or simple variables holding one). */
export function savedPaths(source: string, vars: Map<string, string> = new Map()): { path: string; call: string }[] {
  for (const m of source.matchAll(ASSIGN)) {
    const v = m[2] ?? m[3];
    if (m[1] && v !== undefined) vars.set(m[1], v);
  }
  const out: { path: string; call: string }[] = [];
  for (const m of source.matchAll(SAVE_CALL)) {
    const args = callArgs(source, (m.index ?? 0) + m[0].length - 1);
    const call = m[1]!.replace(/^\./, '');
    const literals = [...args.matchAll(new RegExp(STRING, 'g'))].map((s) => s[1] ?? s[2]).filter((s): s is string => s !== undefined);
    const idents = [...args.matchAll(/(?:^|[,(]\s*|=\s*)([A-Za-z_]\w*)\s*(?=[,)]|$)/g)].map((s) => vars.get(s[1]!)).filter((s): s is string => s !== undefined);
    const opened = [...args.matchAll(OPEN_WRITE)].map((o) => (o[2] ?? o[3] ?? vars.get(o[1] ?? ''))).filter((s): s is string => s !== undefined);
    const dirCall = /save_pretrained|saved_model|save_model|mlflow/.test(call);
    for (const p of [...opened, ...literals, ...idents]) {
      if (p === '' || /^(wb|rb|w|a|ab)$/.test(p)) continue;
      if (out.some((x) => x.path === p)) continue;
      if (isModelFile(p) || (dirCall && !extname(p))) out.push({ path: p, call });
    }
  }
  // `with open("model.onnx", "wb") as f: f.write(onx.SerializeToString())`
  for (const o of source.matchAll(OPEN_WRITE)) {
    const p = stringValue(o, 2) ?? vars.get(o[1] ?? '');
    if (p && isModelFile(p) && !out.some((x) => x.path === p)) out.push({ path: p, call: 'open' });
  }
  return out;
}

/** `accuracy: 0.97`, `val_loss = 0.12`, `{'f1': 0.9}` in outputs; the last value of a metric wins. */
export function metricsFromOutputs(outputs: string[]): Record<string, number> {
  const metrics: Record<string, number> = {};
  const num = String.raw`(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)`;
  const line = new RegExp(String.raw`^\s*([A-Za-z][\w .\-/]{0,40}?)\s*[:=]\s*${num}\s*%?\s*$`, 'gm');
  const dict = new RegExp(String.raw`['"]([A-Za-z][\w\-]{0,40})['"]\s*:\s*${num}`, 'g');
  for (const text of outputs) {
    for (const re of [line, dict]) {
      for (const m of text.matchAll(re)) {
        const key = m[1]!.trim().replace(/\s+/g, '_').toLowerCase();
        if (METRIC_KEY.test(key)) metrics[key] = Number(m[2]);
      }
    }
  }
  return metrics;
}

export function notebookTitle(cells: ScanCell[], notebookPath: string): string {
  for (const c of cells) {
    if (c.kind !== 'markup') continue;
    const h = /^\s*#\s+(.+?)\s*$/m.exec(c.source);
    if (h?.[1]) return h[1];
  }
  return basename(notebookPath, extname(notebookPath));
}

export function scanNotebook(cells: ScanCell[], notebookPath: string, folderFiles: FolderFile[]): ScanResult {
  const dir = notebookPath.slice(0, notebookPath.length - basename(notebookPath).length);
  const code = cells.filter((c) => c.kind === 'code');
  const allSource = code.map((c) => c.source).join('\n');
  const framework = FRAMEWORKS.find(([re]) => re.test(allSource))?.[1];
  const vars = new Map<string, string>();
  const byPath = new Map<string, ModelCandidate>();
  const existing = new Map(folderFiles.map((f) => [normalize(f.path), f]));
  for (const c of code) {
    for (const { path, call } of savedPaths(c.source, vars)) {
      const abs = normalize(isAbsolute(path) ? path : join(dir, path));
      if (!byPath.has(abs)) byPath.set(abs, { path: abs, reason: l10n.t('written by {0}()', call), exists: existing.has(abs) });
    }
  }
  const runs = cells.map((c) => c.lastRunStart).filter((t): t is number => t !== undefined);
  const lastRun = runs.length ? Math.min(...runs) : undefined;
  for (const f of folderFiles) {
    const abs = normalize(f.path);
    if (byPath.has(abs) || !isModelFile(abs)) continue;
    if (lastRun === undefined) byPath.set(abs, { path: abs, reason: l10n.t("model file in the notebook's folder"), exists: true });
    else if (f.mtimeMs >= lastRun) byPath.set(abs, { path: abs, reason: l10n.t('changed since the notebook last ran'), exists: true });
  }
  for (const c of byPath.values()) {
    if (existing.get(c.path)?.isSymbolicLink) {
      c.link = true;
      c.reason = l10n.t('{0}; a symbolic link: check where it leads before pushing', c.reason);
    }
  }
  const candidates = [...byPath.values()].sort((a, b) => Number(b.exists) - Number(a.exists));
  const first = candidates.find((c) => c.exists && !c.link) ?? candidates[0];
  return {
    candidates,
    name: notebookTitle(cells, notebookPath),
    framework,
    modelFormatName: first ? formatForFile(first.path, framework) : framework,
    metrics: metricsFromOutputs(cells.flatMap((c) => c.outputs)),
  };
}
