// The `edgetwin` command.

import { Command, InvalidArgumentError } from 'commander';
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
  .showHelpAfterError()
  // Lets `cloud` take positional options, so its subcommands own their --state-dir.
  .enablePositionalOptions();

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
  .option('--log-level <level>', 'trace | debug | info | warn | error')
  .option('--cloud <url>', 'connect to `edgetwin cloud` (or KubeEdge cloudcore) at wss://host:10000; run `edgetwin join` first')
  .option('--no-live', 'log a line per change instead of the live table on a terminal')
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
      logLevel: opts.logLevel,
      cloud: opts.cloud,
      live: opts.live === false ? false : undefined,
    });
  });

program
  .command('join')
  .description('get this gateway\'s node certificate from `edgetwin cloud` (once, before `run --cloud`)')
  .requiredOption('--cloud <host[:port]>', 'the cloud\'s join server (port default 10002)')
  .option('--token <token>', 'join token printed by `edgetwin cloud token`')
  .option('--token-file <file>', 'read the join token from a file (keeps it out of the shell history)')
  .option('--node-name <name>', 'this gateway\'s node name (default: the hostname)')
  .option('--data-dir <dir>', `where the certificate and key are written (default ${DEFAULTS.dataDir})`)
  .action(async (opts: { cloud: string; token?: string; tokenFile?: string; nodeName?: string; dataDir?: string }) => {
    process.exitCode = await (await import('./join-command.ts')).joinCommand(opts);
  });

program
  .command('validate')
  .description('check Device and DeviceModel files as `run` would; exit 1 with every error listed')
  .argument('<paths...>', 'files or folders')
  .action(async (paths: string[]) => {
    process.exitCode = await (await import('./validate.ts')).validateCommand(paths);
  });

program
  .command('devices')
  .description('list the devices of a running gateway')
  .option('--api-url <url>', 'local API of the gateway', DEFAULT_API_URL)
  .option('--json', 'print JSON')
  .action(client(async (opts: { apiUrl: string; json?: boolean }) => (await twinCommands()).devicesCommand(opts.apiUrl, Boolean(opts.json))));

const twin = program.command('twin').description('read and set a device\'s twin on a running gateway');
twin
  .command('get')
  .argument('<device>', '<namespace>/<name>')
  .option('--api-url <url>', 'local API of the gateway', DEFAULT_API_URL)
  .option('--json', 'print JSON')
  .action(client(async (ref: string, opts: { apiUrl: string; json?: boolean }) => (await twinCommands()).twinGetCommand(opts.apiUrl, ref, Boolean(opts.json))));
twin
  .command('set')
  .argument('<device>', '<namespace>/<name>')
  .argument('<assignments...>', '<property>=<value> ...')
  .option('--api-url <url>', 'local API of the gateway', DEFAULT_API_URL)
  .action(client(async (ref: string, assignments: string[], opts: { apiUrl: string }) => (await twinCommands()).twinSetCommand(opts.apiUrl, ref, assignments)));

const cloudCommands = () => import('./cloud-command.ts');

const cloud = program
  .command('cloud')
  // `cloud token --state-dir x`: the subcommand's own --state-dir, not the parent's.
  .enablePositionalOptions()
  .description('run the cloud side of the cloud-edge link: CloudHub (:10000), the join server (:10002), /metrics and /healthz (127.0.0.1:10080)')
  .option('--listen <addr>', 'address CloudHub and the join server listen on (default: all interfaces)')
  .option('--port <n>', 'CloudHub WebSocket port (default 10000)', port)
  .option('--join-port <n>', 'join server HTTPS port (default 10002)', port)
  .option('--http-port <n>', '/metrics and /healthz port on 127.0.0.1 (default 10080)', port)
  .option('--advertise <hosts>', 'comma-separated names and addresses for the server certificate (default: hostname, 127.0.0.1, this machine\'s addresses)')
  .option('--state-dir <dir>', 'where the CA, the ACK record and the report log live (default ./edgetwin-cloud)')
  .option('--kubeconfig <file>', 'Kubernetes config (default: KUBECONFIG, then in-cluster)')
  .option('--config <file>', 'YAML config file with cloudhub.* settings')
  .option('--log-level <level>', 'trace | debug | info | warn | error')
  .action(async (opts) => {
    await (await cloudCommands()).cloudCommand(opts);
  });

cloud
  .command('token')
  .description('print a join token for `edgetwin join` (creates the CA if there is none yet)')
  .option('--ttl <duration>', 'how long the token is valid, e.g. 24h, 30m (default 24h)')
  .option('--state-dir <dir>', 'the cloud\'s state directory (default ./edgetwin-cloud)')
  .action(client(async (opts: { ttl?: string; stateDir?: string }) => {
    await (await cloudCommands()).tokenCommand(opts);
  }));

cloud
  .command('revoke')
  .description('refuse a node\'s certificates from now on (a stolen gateway); the running cloud ends its session')
  .argument('<node>', 'the node name')
  .option('--state-dir <dir>', 'the cloud\'s state directory (default ./edgetwin-cloud)')
  .action(client(async (node: string, opts: { stateDir?: string }) => {
    await (await cloudCommands()).revokeCommand(node, opts);
  }));

registerProtocolCommands(program);

// `edgetwin twin get ... | head`: a reader that hangs up early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

await program.parseAsync(process.argv);
