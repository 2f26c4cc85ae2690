import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type * as PgModule from 'pg';
import { freePort } from './registry';
import { tempDir } from './tmp';

const BIN = process.env.OMLMD_PG_BIN ?? '/usr/lib/postgresql/15/bin';

export interface RunningPostgres {
  /** `postgres://omlmd@127.0.0.1:PORT/postgres` */
  url: string;
  port: number;
  /** A fresh database on this server; its connection string. */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

// Servers still running when the test process exits would keep their ports and files.
const running = new Map<string, string>();
function stopAllSync(): void {
  for (const [data, root] of running) {
    run([join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], true);
    rmSync(root, { recursive: true, force: true });
  }
  running.clear();
}
process.on('exit', stopAllSync);

/** PostgreSQL refuses to run as root: as root, its commands run as the `postgres` user. */
function asServerUser(argv: string[]): string[] {
  return process.getuid?.() === 0 ? ['runuser', '-u', 'postgres', '--', ...argv] : argv;
}

function run(argv: string[], quiet = false): { code: number; out: string } {
  const [cmd, ...args] = asServerUser(argv);
  const r = spawnSync(cmd!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (!quiet && r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

function runAsync(argv: string[]): Promise<void> {
  const [cmd, ...args] = asServerUser(argv);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${argv.join(' ')} failed (${code}):\n${out}`))));
  });
}

/**
 * Starts a real PostgreSQL server (Debian's postgresql 15) in a fresh temp directory on a
 * free loopback port, trusting local connections for user `omlmd`. Its default collation is
 * ICU's English, not code point order, so a query that forgets `COLLATE "C"` sorts wrongly.
 */
export async function startPostgres(): Promise<RunningPostgres> {
  if (!existsSync(join(BIN, 'initdb'))) throw new Error(`PostgreSQL is not installed (${BIN}/initdb): run scripts/setup.sh`);
  const root = tempDir('omlmd-pg-');
  const data = join(root, 'data');
  const sock = join(root, 'sock');
  spawnSync('mkdir', ['-p', sock]);
  if (process.getuid?.() === 0) {
    const uid = Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    const gid = Number(spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).stdout.trim());
    chownSync(root, uid, gid);
    chownSync(sock, uid, gid);
  }
  await runAsync([join(BIN, 'initdb'), '-D', data, '-A', 'trust', '-U', 'omlmd', '-E', 'UTF8', '--locale=C.UTF-8', '--locale-provider=icu', '--icu-locale=en-US', '--no-sync']);
  const port = await freePort();
  running.set(data, root);
  const opts = `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${sock} -c fsync=off -c synchronous_commit=off -c full_page_writes=off`;
  try {
    await runAsync([join(BIN, 'pg_ctl'), '-D', data, '-o', opts, '-l', join(root, 'log'), '-w', '-t', '60', 'start']);
  } catch (e) {
    const log = existsSync(join(root, 'log')) ? readFileSync(join(root, 'log'), 'utf8') : '';
    stopAllSync();
    throw new Error(`${(e as Error).message}\n${log}`);
  }
  const url = `postgres://omlmd@127.0.0.1:${port}/postgres`;
  return {
    url,
    port,
    async createDatabase(name: string): Promise<string> {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const pg = require('pg') as typeof PgModule;
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      return `postgres://omlmd@127.0.0.1:${port}/${name}`;
    },
    async stop(): Promise<void> {
      if (!running.has(data)) return;
      running.delete(data);
      await runAsync([join(BIN, 'pg_ctl'), '-D', data, '-m', 'fast', '-w', 'stop']).catch(() => run([join(BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'], true));
      rmSync(root, { recursive: true, force: true });
    },
  };
}
