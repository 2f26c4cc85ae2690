/**
 * The minimal base of a ModelCar image when no `--base` is given: Debian's `busybox-static`
 * (`/bin/busybox`, statically linked, so nothing else is needed in the image) plus links
 * for the commands KServe runs in a ModelCar container:
 * `sh -c "ln -sf /proc/$$/root/models /mnt/models && sleep infinity"`, and `ls`, `echo`,
 * `cat` for checks. One uncompressed tar layer, built the same way every time, so the same
 * busybox binary always gives the same layer digest.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { OmlmdError, toOmlmdError } from '../errors';
import type { Platform } from '../oci/types';
import { TarLayer, type TarEntry } from './tarlayer';

export const DEFAULT_BUSYBOX = '/bin/busybox';
/** The applets linked in /bin: what KServe's ModelCar commands and a person debugging need. */
export const BUSYBOX_APPLETS = ['sh', 'ln', 'sleep', 'ls', 'echo', 'cat', 'mkdir', 'test', 'true', 'env', 'du'] as const;
export const BUSYBOX_BASE_NAME = 'busybox-static (built by omlmd)';

export interface ElfInfo {
  architecture: string;
  variant?: string;
  static: boolean;
}

const MACHINES: Record<number, { architecture: string; variant?: string }> = {
  3: { architecture: '386' },
  40: { architecture: 'arm', variant: 'v7' },
  62: { architecture: 'amd64' },
  183: { architecture: 'arm64', variant: 'v8' },
  21: { architecture: 'ppc64le' },
  22: { architecture: 's390x' },
  243: { architecture: 'riscv64' },
};

/** Reads an ELF executable's machine and whether it asks for a program interpreter (dynamic linking). */
export async function readElf(path: string): Promise<ElfInfo> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw toOmlmdError(e, `cannot read ${path}`);
  }
  try {
    const head = Buffer.alloc(64);
    await fh.read(head, 0, 64, 0);
    if (head.readUInt32BE(0) !== 0x7f454c46) throw new OmlmdError('USAGE', `${path} is not an ELF executable`);
    const is64 = head[4] === 2;
    const le = head[5] === 1;
    const u16 = (b: Buffer, o: number): number => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number): number => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const machine = u16(head, 18);
    const phoff = is64 ? Number(le ? head.readBigUInt64LE(32) : head.readBigUInt64BE(32)) : u32(head, 28);
    const phentsize = u16(head, is64 ? 54 : 42);
    const phnum = u16(head, is64 ? 56 : 44);
    const table = Buffer.alloc(phentsize * phnum);
    await fh.read(table, 0, table.length, phoff);
    let interp = false;
    for (let i = 0; i < phnum; i++) if (u32(table, i * phentsize) === 3) interp = true;
    const m = MACHINES[machine];
    if (!m) throw new OmlmdError('UNSUPPORTED', `${path}: unknown ELF machine ${machine}`);
    const architecture = m.architecture === 'ppc64le' && !le ? 'ppc64' : m.architecture;
    return { architecture, ...(m.variant ? { variant: m.variant } : {}), static: !interp };
  } finally {
    await fh.close();
  }
}

export interface BusyboxBase {
  layer: TarLayer;
  platform: Platform;
  /** The image config's `config` section. */
  config: { Env: string[]; Cmd: string[]; WorkingDir: string };
  history: string;
}

/** The busybox base layer and the platform it runs on (from the binary itself). */
export async function busyboxBase(path = process.env.OMLMD_BUSYBOX || DEFAULT_BUSYBOX): Promise<BusyboxBase> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isFile()) {
    throw new OmlmdError('NOT_FOUND', `no busybox at ${path} for the ModelCar's minimal base`, {
      remedies: [{ kind: 'say', text: 'install Debian\'s busybox-static (apt-get install busybox-static), or point OMLMD_BUSYBOX at a static busybox' }, { kind: 'give-base-image' }],
    });
  }
  const elf = await readElf(path);
  if (!elf.static) {
    throw new OmlmdError('UNSUPPORTED', `${path} is dynamically linked: alone in an image it cannot run`, {
      remedies: [{ kind: 'say', text: 'install busybox-static (not busybox)' }, { kind: 'give-base-image' }],
    });
  }
  const entries: TarEntry[] = [
    { type: 'Directory', path: 'bin' },
    { type: 'File', path: 'bin/busybox', size: st.size, mode: 0o755, open: () => createReadStream(path, { highWaterMark: 1 << 20 }) },
    ...BUSYBOX_APPLETS.map((a): TarEntry => ({ type: 'SymbolicLink', path: `bin/${a}`, linkpath: 'busybox' })),
    { type: 'Directory', path: 'dev' },
    { type: 'Directory', path: 'etc' },
    { type: 'Directory', path: 'mnt' },
    { type: 'Directory', path: 'proc' },
    { type: 'Directory', path: 'sys' },
    { type: 'Directory', path: 'tmp', mode: 0o1777 },
  ];
  return {
    layer: new TarLayer(entries),
    platform: { os: 'linux', architecture: elf.architecture, ...(elf.variant ? { variant: elf.variant } : {}) },
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/sh'], WorkingDir: '/' },
    history: `omlmd: busybox-static base: /bin/busybox with ${BUSYBOX_APPLETS.join(', ')}`,
  };
}
