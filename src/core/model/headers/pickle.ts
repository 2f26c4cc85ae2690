/**
 * Pickle (protocols 0 to 5, Lib/pickletools.py): loading one runs whatever its globals
 * name. The scanner walks the opcodes without executing any and lists the `module.name`
 * pairs it imports (GLOBAL and INST name them in the stream; STACK_GLOBAL takes the two
 * strings pushed last, found as the Hub's picklescan finds them). Byte payloads are
 * skipped by their length, never read.
 */
import { BudgetExceeded, Cursor, ibytes } from './reader';
import type { PickleScan } from './types';

/** Modules (or `module.name`) whose globals run commands, code, or I/O when a pickle is loaded. */
const DANGEROUS_MODULES = new Set([
  'os', 'posix', 'nt', 'subprocess', 'sys', 'socket', 'shutil', 'runpy', 'webbrowser', 'pty', 'commands', 'pickle', '_pickle',
  'bdb', 'pdb', 'asyncio', 'code', 'codeop', 'importlib', 'ctypes', 'multiprocessing', 'httplib', 'http', 'urllib', 'urllib2',
  'requests', 'aiohttp', 'ftplib', 'smtplib', 'telnetlib', 'marshal', 'types', 'platform', 'signal', 'tempfile', 'glob', 'pathlib',
  'dill', 'cloudpickle', 'torch.hub', 'torch.jit', 'torch.serialization',
]);
const DANGEROUS_GLOBALS = new Set([
  'builtins.eval', 'builtins.exec', 'builtins.execfile', 'builtins.compile', 'builtins.open', 'builtins.__import__', 'builtins.getattr',
  'builtins.setattr', 'builtins.delattr', 'builtins.globals', 'builtins.locals', 'builtins.breakpoint', 'builtins.input', 'builtins.apply',
  '__builtin__.eval', '__builtin__.exec', '__builtin__.execfile', '__builtin__.compile', '__builtin__.open', '__builtin__.__import__',
  '__builtin__.getattr', '__builtin__.apply', 'operator.attrgetter', 'operator.methodcaller', 'functools.partial', 'numpy.load',
  'numpy.testing._private.utils.runstring', 'torch.load', 'torch._C._load_from_bytes',
]);

export function isDangerous(global: string): boolean {
  if (DANGEROUS_GLOBALS.has(global)) return true;
  const parts = global.split('.');
  for (let i = 1; i < parts.length; i++) if (DANGEROUS_MODULES.has(parts.slice(0, i).join('.'))) return true;
  return false;
}

const MAX_IMPORTS = 1000;
const MAX_MEMO = 100_000;
const MAX_LINE = 64 * 1024;

class PickleCursor extends Cursor {
  /** A text argument up to its newline; names are bounded by `max`, data lines only by the budget. */
  async line(max = MAX_LINE): Promise<string> {
    const start = this.pos;
    let keep = '';
    for (;;) {
      const n = Math.min(this.left, 4096);
      if (n <= 0) throw this.r.malformed(`a pickle text argument at offset ${start} has no end of line`);
      const b = await this.r.bytes(this.pos, n);
      const nl = b.indexOf(0x0a);
      const piece = b.toString('latin1', 0, nl >= 0 ? nl : n);
      if (keep.length < 1024) keep += piece.slice(0, 1024 - keep.length);
      this.pos += nl >= 0 ? nl + 1 : n;
      if (nl >= 0) return keep;
      if (this.pos - start >= max) throw this.r.malformed(`a pickle name at offset ${start} has no end of line within ${max} bytes`);
    }
  }

  async uint(size: 1 | 2 | 4 | 8, signed = false): Promise<number> {
    const b = await this.take(size, 'a pickle argument');
    if (size === 1) return b[0]!;
    if (size === 2) return b.readUInt16LE(0);
    if (size === 4) return signed ? b.readInt32LE(0) : b.readUInt32LE(0);
    const v = b.readBigUInt64LE(0);
    return v > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(v);
  }

  /** A length-prefixed payload: returned as text when short, else skipped. */
  async payload(size: 1 | 4 | 8, text: boolean): Promise<string | undefined> {
    const n = await this.uint(size, size === 4);
    if (n < 0 || n > this.left) throw this.r.malformed(`a pickle argument at offset ${this.pos} says it is ${n} bytes, more than the ${this.left} left`);
    if (!text || n > 1024) {
      this.passOver(n);
      return undefined;
    }
    return (await this.take(n)).toString('utf8');
  }
}

/**
 * Scans the pickle at [start, end) of the reader's file, then any pickle right after it
 * (a legacy torch.save writes several). Stops at an opcode no protocol defines: raw data
 * follows (torch storages, joblib arrays), or the file is not a pickle.
 */
export async function scanPickle(c0: Cursor, warnings: string[]): Promise<PickleScan> {
  const c = new PickleCursor(c0.r, c0.pos, c0.end);
  const imports: string[] = [];
  const seen = new Set<string>();
  const recent: string[] = [];
  const memo = new Map<number, string>();
  let memoCount = 0;
  let last: string | undefined;
  let protocol: number | undefined;
  let complete = true;
  let badOpcodeAt: number | undefined;
  let ops = 0;
  const add = (g: string): void => {
    if (!seen.has(g) && imports.length < MAX_IMPORTS) {
      seen.add(g);
      imports.push(g);
    }
  };
  const str = (s: string | undefined): void => {
    last = s;
    if (s !== undefined) {
      recent.push(s);
      if (recent.length > 8) recent.shift();
    }
  };
  const put = (i: number): void => {
    if (last !== undefined && memo.size < MAX_MEMO) memo.set(i, last);
  };
  const get = (i: number): void => str(memo.get(i));
  try {
    scan: for (;;) {
      if (c.left <= 0) {
        if (ops > 0) {
          complete = false;
          warnings.push('the pickle ends without a STOP opcode: it is truncated');
        }
        break;
      }
      const at = c.pos;
      const op = await c.u8();
      ops++;
      const wasLast = last;
      last = undefined;
      switch (op) {
        // no argument
        case 0x28: case 0x30: case 0x31: case 0x32: case 0x4e: case 0x52: case 0x64: case 0x7d: case 0x65: case 0x6c: case 0x5d:
        case 0x61: case 0x73: case 0x75: case 0x74: case 0x29: case 0x6f: case 0x51: case 0x88: case 0x89: case 0x85: case 0x86:
        case 0x87: case 0x81: case 0x8f: case 0x90: case 0x91: case 0x92: case 0x97: case 0x98:
          break;
        case 0x62: // BUILD: a joblib array's raw bytes follow its wrapper's BUILD
          if (seen.has('joblib.numpy_pickle.NumpyArrayWrapper')) {
            complete = false;
            warnings.push(`the pickle holds joblib array data from offset ${c.pos}: imports after it were not scanned`);
            break scan;
          }
          break;
        case 0x94: // MEMOIZE
          last = wasLast;
          put(memoCount++);
          last = undefined;
          break;
        case 0x2e: { // STOP; a second pickle may follow
          if (c.left > 0) {
            const next = (await c.r.bytes(c.pos, 1))[0];
            if (next === 0x80) {
              memo.clear();
              memoCount = 0;
              continue scan;
            }
          }
          break scan;
        }
        case 0x93: { // STACK_GLOBAL
          const name = recent.pop();
          const mod = recent.pop();
          add(mod !== undefined && name !== undefined ? `${mod}.${name}` : '?.? (names not found in the stream)');
          break;
        }
        case 0x63: case 0x69: { // GLOBAL, INST: "module\nname\n"
          const mod = await c.line();
          const name = await c.line();
          add(`${mod}.${name}`);
          break;
        }
        // one text line
        case 0x49: case 0x4c: case 0x46: case 0x50: await c.line(Infinity); break; // INT, LONG, FLOAT, PERSID
        case 0x53: { // STRING 'text'
          const l = await c.line(Infinity);
          str(l.length >= 2 ? l.slice(1, -1) : l);
          break;
        }
        case 0x56: str(await c.line(Infinity)); break; // UNICODE (raw-unicode-escaped; names are ASCII)
        case 0x67: get(Number(await c.line())); break; // GET
        case 0x70: last = wasLast; put(Number(await c.line())); last = undefined; break; // PUT
        // fixed arguments
        case 0x4a: c.passOver(4); break; // BININT
        case 0x4b: c.passOver(1); break; // BININT1
        case 0x4d: c.passOver(2); break; // BININT2
        case 0x47: c.passOver(8); break; // BINFLOAT
        case 0x82: c.passOver(1); add('copyreg extension (EXT1)'); break;
        case 0x83: c.passOver(2); add('copyreg extension (EXT2)'); break;
        case 0x84: c.passOver(4); add('copyreg extension (EXT4)'); break;
        case 0x68: get(await c.uint(1)); break; // BINGET
        case 0x6a: get(await c.uint(4)); break; // LONG_BINGET
        case 0x71: last = wasLast; put(await c.uint(1)); last = undefined; break; // BINPUT
        case 0x72: last = wasLast; put(await c.uint(4)); last = undefined; break; // LONG_BINPUT
        case 0x80: // PROTO
          protocol = await c.uint(1);
          if (protocol > 5) throw c.r.malformed(`pickle protocol ${protocol} at offset ${at} is not one Python defines (0 to 5)`);
          break;
        case 0x95: c.passOver(8); break; // FRAME: only a length hint
        // length-prefixed
        case 0x58: str(await c.payload(4, true)); break; // BINUNICODE
        case 0x8c: str(await c.payload(1, true)); break; // SHORT_BINUNICODE
        case 0x8d: str(await c.payload(8, true)); break; // BINUNICODE8
        case 0x54: str(await c.payload(4, true)); break; // BINSTRING
        case 0x55: str(await c.payload(1, true)); break; // SHORT_BINSTRING
        case 0x42: await c.payload(4, false); break; // BINBYTES
        case 0x43: await c.payload(1, false); break; // SHORT_BINBYTES
        case 0x8e: await c.payload(8, false); break; // BINBYTES8
        case 0x96: await c.payload(8, false); break; // BYTEARRAY8
        case 0x8a: await c.payload(1, false); break; // LONG1
        case 0x8b: await c.payload(4, false); break; // LONG4
        default:
          if (ops === 1) throw c.r.malformed(`byte 0x${op.toString(16).padStart(2, '0')} at offset ${at} is not a pickle opcode: this is not a pickle`);
          // No PROTO header, nothing imported, a few bytes in: random or raw data whose first bytes happened to be opcodes.
          if (protocol === undefined && imports.length === 0 && at < 64) throw c.r.malformed(`byte 0x${op.toString(16).padStart(2, '0')} at offset ${at} is not a pickle opcode, and nothing before it made a pickle: this is not a pickle`);
          complete = false;
          badOpcodeAt = at;
          warnings.push(`pickle scanning stopped at offset ${at} (byte 0x${op.toString(16).padStart(2, '0')} is no opcode): imports after it were not scanned`);
          break scan;
      }
    }
  } catch (e) {
    if (!(e instanceof BudgetExceeded)) throw e;
    complete = false;
    warnings.push(`the pickle goes on past the ${ibytes(c.r.maxBytes)} read budget: the imports listed are those of its first part`);
  }
  if (imports.length >= MAX_IMPORTS) warnings.push(`the pickle imports more than ${MAX_IMPORTS} globals: the first ${MAX_IMPORTS} are listed`);
  return { imports, dangerous: imports.filter(isDangerous), complete, ...(protocol !== undefined ? { protocol } : {}), ...(badOpcodeAt !== undefined ? { badOpcodeAt } : {}) };
}
