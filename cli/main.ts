// The `edgetwin` command.

import { Command, InvalidArgumentError } from 'commander';
import type { ApiTarget } from './client.ts';
import { DEFAULTS } from './config.ts';
import { registerProtocolCommands } from './protocol-commands.ts';

// Command modules load on use: a client command should not pay for the broker, SQLite and drivers.
const twinCommands = () => import('./twin-commands.ts');

const DEFAULT_API_URL = `http://127.0.0.1:${DEFAULTS.apiPort}`;

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
}

interface ApiFlags {
  apiUrl: string;
  apiTokenFile?: string;
  apiCa?: string;
  apiCert?: string;
  apiKey?: string;
}

/** The flags of every command that talks to a running gateway's local API. */
function apiFlags(cmd: Command): Command {
  return cmd
    .option('--api-url <url>', 'local API of the gateway', DEFAULT_API_URL)
    .option('--api-token-file <file>', 'file holding the bearer token the gateway\'s api.tokenFile names')
    .option('--api-ca <file>', 'PEM CA that signed an https API\'s certificate')
    .option('--api-cert <file>', 'PEM client certificate, for an API with api.tls.clientCa')
    .option('--api-key <file>', 'PEM key of --api-cert');
}

const target = (o: ApiFlags): ApiTarget => ({ url: o.apiUrl, tokenFile: o.apiTokenFile, ca: o.apiCa, cert: o.apiCert, key: o.apiKey });

/** Commands that talk to a running gateway print the gateway's message and exit 1 on failure. */
function client<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
  };
}

const program = new Command('edgetwin')
  .description('Device-centric IoT gateway: DeviceTwin, protocol mappers, KubeEdge-compatible MQTT')
  .showHelpAfterError();

program
  .command('run')
  .description('run the gateway on the given Device and DeviceModel files or folders')
  .option('--devices <path...>', 'Device/DeviceModel YAML or JSON files or folders (repeatable)', undefined)
  .option('--config <file>', 'YAML config file (keys mirror the flags)')
  .option('--data-dir <dir>', `data directory (default ${DEFAULTS.dataDir})`)
  .option('--node-name <name>', 'this gateway\'s node name (default: the hostname)')
  .option('--mqtt-port <n>', `port of the embedded MQTT broker (default ${DEFAULTS.mqttPort})`, port)
  .option('--mqtt-url <url>', 'use an external MQTT broker instead of the embedded one')
  .option('--api-port <n>', `local API port (default ${DEFAULTS.apiPort})`, port)
  .option('--api-host <address>', `address the local API listens on (default ${DEFAULTS.apiHost}); beyond loopback it needs --api-token-file or api.tls.clientCa`)
  .option('--api-token-file <file>', 'file holding the bearer token every API request must carry')
  .option('--log-level <level>', 'trace | debug | info | warn | error')
  .option('--no-live', 'log a line per change instead of the live table on a terminal')
  .option('--pods <path...>', 'Pod, ConfigMap and Secret YAML files or folders to run on containerd, with no cloud (turns edged on)')
  .option('--ble-binding <binding>', 'BLE devices use hci (a real adapter, the default) or sim:<file> (a simulated BLE world)')
  .action(async (opts) => {
    if (opts.bleBinding) {
      try {
        (await import('../mappers/ble/index.ts')).bleLoader.use(opts.bleBinding);
      } catch (err) {
        process.stderr.write(`error: --ble-binding: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
    }
    await (await import('./run.ts')).runCommand({
      devices: opts.devices,
      config: opts.config,
      dataDir: opts.dataDir,
      nodeName: opts.nodeName,
      mqttPort: opts.mqttPort,
      mqttUrl: opts.mqttUrl,
      apiPort: opts.apiPort,
      apiHost: opts.apiHost,
      apiTokenFile: opts.apiTokenFile,
      logLevel: opts.logLevel,
      pods: opts.pods,
      live: opts.live === false ? false : undefined,
    });
  });

program
  .command('validate')
  .description('check Device and DeviceModel files as `run` would; exit 1 with every error listed')
  .argument('<paths...>', 'files or folders')
  .action(async (paths: string[]) => {
    process.exitCode = await (await import('./validate.ts')).validateCommand(paths);
  });

apiFlags(program.command('devices').description('list the devices of a running gateway'))
  .option('--json', 'print JSON')
  .action(client(async (opts: ApiFlags & { json?: boolean }) => (await twinCommands()).devicesCommand(target(opts), Boolean(opts.json))));

const twin = program.command('twin').description('read and set a device\'s twin on a running gateway');
apiFlags(twin.command('get').argument('<device>', '<namespace>/<name>'))
  .option('--json', 'print JSON')
  .action(client(async (ref: string, opts: ApiFlags & { json?: boolean }) => (await twinCommands()).twinGetCommand(target(opts), ref, Boolean(opts.json))));
apiFlags(twin.command('set').argument('<device>', '<namespace>/<name>').argument('<assignments...>', '<property>=<value> ...'))
  .action(client(async (ref: string, assignments: string[], opts: ApiFlags) => (await twinCommands()).twinSetCommand(target(opts), ref, assignments)));

const podCommands = () => import('./pod-commands.ts');
apiFlags(program.command('pods').description('list the pods of a running gateway with their status'))
  .option('--json', 'print JSON')
  .action(client(async (opts: ApiFlags & { json?: boolean }) => (await podCommands()).podsCommand(target(opts), Boolean(opts.json))));
apiFlags(program.command('logs').description('print the log of a pod\'s container on this gateway (its CRI log file)').argument('<pod>', '<namespace>/<name>'))
  .option('-c, --container <name>', 'the container (default: the pod\'s only or first one)')
  .option('-f, --follow', 'keep printing new lines, across container restarts')
  .option('-p, --previous', 'the log of the previous attempt (before the last restart)')
  .action(client(async (ref: string, opts: ApiFlags & { container?: string; follow?: boolean; previous?: boolean }) => (await podCommands()).logsCommand(target(opts), ref, opts)));

registerProtocolCommands(program);

// `edgetwin twin get ... | head`: a reader that hangs up early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

await program.parseAsync(process.argv);
