import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Command, CommanderError } from 'commander';
import { OmlmdError } from '../core/errors';
import { paceCollections } from '../core/transfer/memory';
import { controller, state, version } from './context';
import { COMMAND_MODULES } from './commands';
import { ExitCode, exitCodeFor, formatError } from './output';

/** The omlmd program: its description and help, then every command from src/cli/commands/. */
export function buildProgram(): Command {
  const program = new Command('omlmd')
    .description('Models with metadata as OCI artifacts: push, pull, inspect, copy and list them in registries, OCI layouts, and the local store.')
    .version(version, '-V, --version')
    .showSuggestionAfterError()
    .addHelpText('after', `
References:
  HOST[:PORT]/REPO[:TAG|@DIGEST]   an OCI registry (plain HTTP by default for localhost/127.0.0.1)
  oci:PATH[:TAG]                    an OCI image layout on disk (as skopeo writes it)
  REPO[:TAG]                        the local store under OMLMD_HOME (no server needed)

Exit codes: 0 ok, 1 failure, 2 usage or invalid input, 3 authentication, 4 not found,
            5 integrity (digest, size, unsafe path, a signature that does not verify), 6 network or TLS, 130 cancelled.`);

  for (const register of COMMAND_MODULES) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  program.configureOutput({ outputError: (s, write) => write(s.startsWith('error:') ? `omlmd: ${s}` : s) });
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    if (state.interrupted) {
      // Uploads stay open and downloads keep their partial files (hidden, never under the final name): the same command goes on from there.
      process.stderr.write('omlmd: cancelled; nothing was left under a final name, and running the same command again goes on from where it stopped\n');
      return ExitCode.cancelled;
    }
    process.stderr.write(formatError(e, debug) + '\n');
    return exitCodeFor(e);
  }
}

if (require.main === module) {
  // undici parses HTTP in WebAssembly (llhttp). V8's optimizing tier-up of that module costs
  // 20-35 MB of RSS at its peak, a quarter of a transfer's memory, for no gain that a
  // command run can measure (bodies, not headers, make a transfer): the baseline compiler does.
  setFlagsFromString('--liftoff-only');
  // A collection the transfer engine paces by the bytes it moves (core/transfer/memory.ts);
  // the flag only installs `gc` in contexts made after it, such as this one.
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as ((o?: { type: 'minor' | 'major' }) => void) | undefined;
  if (typeof gc === 'function') paceCollections(() => gc({ type: 'minor' }));
  process.on('SIGINT', () => {
    if (state.interrupted) process.exit(ExitCode.cancelled);
    state.interrupted = true;
    controller.abort(new OmlmdError('CANCELLED', 'interrupted'));
  });
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
