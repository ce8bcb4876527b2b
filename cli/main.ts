// The `edgetwin` command.

import { Command, InvalidArgumentError } from 'commander';
import { DEFAULTS } from './config.ts';
import { registerProtocolCommands } from './protocol-commands.ts';

// Command modules load on use: a client command should not pay for the broker, SQLite and drivers.
const twinCommands = () => import('./twin-commands.ts');

const DEFAULT_API_URL = `http://127.0.0.1:${DEFAULTS.apiPort}`;

/** Commander's collector for a repeatable option. */
const repeat = (value: string, previous: string[] = []) => [...previous, value];

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
  .showHelpAfterError();

program
  .command('run')
  .description('run the gateway on the given Device and DeviceModel files or folders')
  .option('--devices <path...>', 'Device/DeviceModel YAML or JSON files or folders (repeatable)', undefined)
  .option('--config <file>', 'YAML config file (keys mirror the flags)')
  .option('--driver <package or path>', 'load a driver package besides the built-in drivers (repeatable; adds to the config file\'s drivers:)', repeat)
  .option('--data-dir <dir>', `data directory (default ${DEFAULTS.dataDir})`)
  .option('--node-name <name>', 'this gateway\'s node name (default: the hostname)')
  .option('--mqtt-port <n>', `port of the embedded MQTT broker (default ${DEFAULTS.mqttPort})`, port)
  .option('--mqtt-url <url>', 'use an external MQTT broker instead of the embedded one')
  .option('--api-port <n>', `local API port (default ${DEFAULTS.apiPort})`, port)
  .option('--log-level <level>', 'trace | debug | info | warn | error')
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
      drivers: opts.driver,
      config: opts.config,
      dataDir: opts.dataDir,
      nodeName: opts.nodeName,
      mqttPort: opts.mqttPort,
      mqttUrl: opts.mqttUrl,
      apiPort: opts.apiPort,
      logLevel: opts.logLevel,
      live: opts.live === false ? false : undefined,
    });
  });

program
  .command('validate')
  .description('check Device and DeviceModel files as `run` would; exit 1 with every error listed')
  .argument('<paths...>', 'files or folders')
  .option('--config <file>', 'YAML config file whose drivers: to load')
  .option('--driver <package or path>', 'load a driver package besides the built-in drivers (repeatable)', repeat)
  .action(async (paths: string[], opts: { config?: string; driver?: string[] }) => {
    const { resolveConfig } = await import('./config.ts');
    const { drivers } = resolveConfig({ config: opts.config, drivers: opts.driver });
    process.exitCode = await (await import('./validate.ts')).validateCommand(paths, process.stdout, process.stderr, drivers);
  });

program
  .command('drivers')
  .description('list the drivers a configuration loads (built-in and packages) and where each comes from')
  .option('--config <file>', 'YAML config file whose drivers: to load')
  .option('--driver <package or path>', 'a driver package or path (repeatable)', repeat)
  .option('--json', 'print JSON')
  .action(async (opts: { config?: string; driver?: string[]; json?: boolean }) => {
    process.exitCode = await (await import('./drivers-command.ts')).driversCommand({ config: opts.config, drivers: opts.driver, json: opts.json });
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

const mapper = program.command('mapper').description('write and run mapper drivers');
mapper
  .command('new')
  .description('write a driver package (driver, schemas, simulator, conformance test, example Device) into a new folder')
  .argument('<dir>', 'the new folder; its name is the npm package name')
  .option('--protocol <name>', 'protocolName in Device YAML (default: the folder name without edgetwin-driver-)')
  .action(async (dir: string, opts: { protocol?: string }) => {
    process.exitCode = (await import('./mapper-new.ts')).mapperNewCommand(dir, opts);
  });

registerProtocolCommands(program);

// `edgetwin twin get ... | head`: a reader that hangs up early is not an error.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code === 'EPIPE') process.exit(0);
  throw err;
});

await program.parseAsync(process.argv);
