import { Command, CommanderError } from 'commander';
import { state, version } from './state';
import { modulesFor } from './commands';
import { ExitCode, exitCodeFor, formatError } from './output';

/**
 * The omlmd program: its description and help, then the commands from src/cli/commands/ that
 * `argv` needs (every one when it names none: `modulesFor`).
 */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
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

  const registers = await Promise.all(modulesFor(argv.slice(2)).map((m) => m.load()));
  for (const register of registers) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = await buildProgram(argv);
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
