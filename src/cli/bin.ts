/**
 * The `omlmd` program's entry (bundled to dist/cli.mjs, started by dist/cli.js): process
 * settings, then main(). The command modules load on demand (commands/index.ts).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { OmlmdError } from '../core/errors';
import { paceCollections } from '../core/transfer/memory';
import { main } from './main';
import { ExitCode } from './output';
import { controller, state } from './state';

// undici parses HTTP in WebAssembly (llhttp). V8's optimizing tier-up of that module costs
// 20-35 MB of RSS at its peak, a quarter of a transfer's memory, for no gain that a
// command run can measure (bodies, not headers, make a transfer): the baseline compiler does.
setFlagsFromString('--liftoff-only');
// A collection the transfer engine paces by the bytes it moves (core/transfer/memory.ts);
// the flag only installs `gc` in contexts made after it, such as the one made at the first
// collection (a context costs a couple of milliseconds a command that moves no blob skips).
setFlagsFromString('--expose-gc');
let gc: ((o?: { type: 'minor' | 'major' }) => void) | undefined;
paceCollections(() => {
  if (!gc) {
    const found = runInNewContext('typeof gc === "function" ? gc : undefined') as typeof gc;
    gc = found ?? (() => undefined);
  }
  gc({ type: 'minor' });
});
process.on('SIGINT', () => {
  if (state.interrupted) process.exit(ExitCode.cancelled);
  state.interrupted = true;
  controller.abort(new OmlmdError('CANCELLED', 'interrupted'));
});
void main(process.argv).then((code) => {
  process.exitCode = code;
});
