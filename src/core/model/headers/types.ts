/** What header inspection tells about a model file, read from its header alone. */

export type HeaderFormat = 'safetensors' | 'gguf' | 'onnx' | 'pytorch' | 'keras' | 'hdf5' | 'pickle' | 'zip' | 'unknown';

export interface TensorPort {
  name: string;
  /** `float32[1,3,224,224]`, `int64[batch]`, `sequence`, `map`, ... */
  type: string;
}

export interface PickleScan {
  /** `module.name` of every global the pickle imports (GLOBAL, INST, STACK_GLOBAL), in order, without repeats. */
  imports: string[];
  /** The imports that run commands, code or I/O on load (os.system, builtins.eval, subprocess, ...). */
  dangerous: string[];
  /** False when scanning stopped before the end of the pickle (budget, raw data after it, or an unreadable opcode). */
  complete: boolean;
  /** Where in the file (or archive member) the pickle was. */
  member?: string;
  protocol?: number;
  /** Where a byte that is no opcode stopped the scan: a pickle never has one before its STOP, raw data soon does. */
  badOpcodeAt?: number;
}

export interface HeaderSummary {
  /** The file's path or the blob's name, as given. */
  name: string;
  format: HeaderFormat;
  /** The file format's own version: GGUF 3, ONNX IR 8, the PyTorch archive's serialization version. */
  formatVersion?: string;
  /** The framework that wrote it, when stored: `pytorch`, `keras`, `onnx` producer, ... */
  framework?: string;
  frameworkVersion?: string;
  /** The model's architecture: GGUF `general.architecture`, a Keras model class. */
  architecture?: string;
  /** Parameters counted from the tensor shapes in the header. */
  parameters?: number;
  tensorCount?: number;
  /** Tensors per dtype, e.g. `{ BF16: 290, F32: 1 }`. */
  dtypes?: Record<string, number>;
  /** GGUF file type (`Q4_K_M`), or the dominant tensor type when the file does not say. */
  quantization?: string;
  contextLength?: number;
  /** ONNX: the operator sets (`ai.onnx` for the default domain) and their versions. */
  opsets?: Record<string, number>;
  inputs?: TensorPort[];
  outputs?: TensorPort[];
  /** Key/values the header carries as text (safetensors `__metadata__`, GGUF `general.*`, ONNX metadata_props). */
  metadata?: Record<string, string>;
  /** Loading this file runs code: what its pickle imports. */
  pickle?: PickleScan;
  /** Everything the format's header holds was read (false: the budget ran out first, see warnings). */
  complete: boolean;
  bytesRead: number;
  fileSize: number;
  warnings: string[];
}

export interface InspectFileOptions {
  /** Read at most this many bytes (default 1 MiB, at most 16 MiB). */
  maxBytes?: number;
}
