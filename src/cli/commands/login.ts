import type { Command } from 'commander';
import { loadConfig, normalizeHost, registryOptions, settingsFor } from '../../core/config';
import { eraseLogin, storeLogin, verifyCredentials } from '../../core/credentials';
import { OmlmdError } from '../../core/errors';
import { controller, example, noteRetry, print, readStdinOnce, settingsFromFlags, version, warn, withRegistryOptions, type Common } from '../context';

/** `HOST[:PORT]`, also accepted with a scheme or a trailing slash as people paste it. */
function registryArg(arg: string): string {
  const host = normalizeHost(arg);
  if (host === '' || !/^(?:\[[0-9a-f:.]+\]|[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?)(?::\d{1,5})?$/.test(host)) {
    throw new OmlmdError('USAGE', `${JSON.stringify(arg)} is not a registry host[:port]`, { remedies: [{ kind: 'say', text: 'e.g. omlmd login quay.io -u USER --password-stdin' }] });
  }
  return host;
}

export function registerLogin(program: Command): void {
  const login = program.command('login')
    .description('check credentials with a registry, then store them (Docker credential helper when configured, else the Docker config file, mode 0600)')
    .argument('<registry>', 'HOST[:PORT]')
    .requiredOption('-u, --username <user>', 'user name')
    .option('--password-stdin', 'read the password or access token from standard input (the only way: a password on the command line ends up in shell history)')
    .option('--plain-http', 'use plain HTTP, not HTTPS (default for localhost and 127.0.0.1)')
    .option('--json', 'print machine-readable JSON')
    .option('--debug', 'show error details and stack traces');
  withRegistryOptions(login, false);
  example(login.action(async (arg: string, o: Common) => {
    const registry = registryArg(arg);
    if (!o.passwordStdin) {
      throw new OmlmdError('USAGE', 'omlmd login reads the password from standard input', { remedies: [{ kind: 'say', text: `echo "$PASSWORD" | omlmd login ${registry} -u ${o.username ?? 'USER'} --password-stdin` }] });
    }
    const password = await readStdinOnce();
    if (password === '') throw new OmlmdError('USAGE', '--password-stdin: standard input held no password');
    const credentials = { username: o.username ?? '', password };
    const settings = settingsFor(loadConfig(), registry, settingsFromFlags(o));
    const { verified } = await verifyCredentials(registry, credentials, {
      ...registryOptions(settings),
      userAgent: `omlmd/${version}`,
      onWarning: warn,
      onRetry: noteRetry,
      signal: controller.signal,
    });
    const { where } = await storeLogin(registry, credentials);
    if (o.json) {
      print(JSON.stringify({ registry, username: credentials.username, verified, storedIn: where }));
      return;
    }
    if (!verified) warn(`${registry} did not ask for credentials, so they could not be checked`);
    print(`Login succeeded: credentials for ${registry} stored in ${where}`);
  }), 'echo "$TOKEN" | omlmd login quay.io -u myuser --password-stdin');

  example(program.command('logout')
    .description('forget the credentials stored for a registry (in the credential helper and the Docker config file)')
    .argument('<registry>', 'HOST[:PORT]')
    .option('--json', 'print machine-readable JSON')
    .option('--debug', 'show error details and stack traces')
    .action(async (arg: string, o: Common) => {
      const registry = registryArg(arg);
      const { path, removed } = await eraseLogin(registry);
      if (o.json) print(JSON.stringify({ registry, removedFrom: removed }));
      else if (removed.length === 0) print(`No credentials for ${registry} were stored in ${path}`);
      else print(`Removed the credentials for ${registry} from ${removed.join(' and ')}`);
    }), 'omlmd logout quay.io');
}
