// The `edgetwin` command.

import { Command, InvalidArgumentError } from 'commander';
import type { ApiTarget } from './client.ts';
import { DEFAULTS } from './config.ts';
import { EXIT_USAGE } from './failure.ts';
import { registerProtocolCommands } from './protocol-commands.ts';

// Command modules load on use: a client command should not pay for the broker, SQLite and drivers.
const twinCommands = () => import('./twin-commands.ts');

const DEFAULT_API_URL = `http://127.0.0.1:${DEFAULTS.apiPort}`;

/** Commander's `error: option '--api-port <n>' argument 'abc' is invalid. ...` in the shape of formatFailure(). */
function usageError(text: string): string {
  const suggestion = /\(Did you mean (.+?)\?\)/.exec(text)?.[1];
  const what = text.replace(/^error: /, '').replace(/\(Did you mean .+?\?\)/, '').trim().replace(/\s*\n\s*/g, ' ');
  const flag = /'(--?[\w-]+)/.exec(what)?.[1];
  const hint = `${suggestion ? `did you mean ${suggestion}? ` : ''}see \`${commandPath().join(' ')} --help\``;
  return `edgetwin: ${what}${flag ? ` (${flag})` : ''}\n  hint: ${hint}\n`;
}

/** `edgetwin twin get`: the command words of argv, as far as they name commands. */
function commandPath(): string[] {
  const path = ['edgetwin'];
  let command: Command = program;
  for (const word of process.argv.slice(2)) {
    const sub = command.commands.find((c) => c.name() === word);
    if (!sub) break;
    path.push(word);
    command = sub;
  }
  return path;
}
/** Commander's collector for a repeatable option. */
const repeat = (value: string, previous: string[] = []) => [...previous, value];

function port(value: string): number {
  // Decimal digits only: Number() would also take 0x1f90 or 1e3.
  const n = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
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
    .option('--api-ca <file>', 'PEM CA that signed an https API\'s certificate (a gateway\'s self-signed one: {dataDir}/tls/api.crt)')
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
  // A wrong flag reads like every other config mistake: what, which flag, a hint; exit 2.
  .configureOutput({ outputError: (text, write) => write(usageError(text)) })
  .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE))
  // Lets `cloud` take positional options, so its subcommands own their --state-dir.
  .enablePositionalOptions();

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
  .option('--broker-host <address>', 'address the embedded MQTT broker listens on (default 127.0.0.1; beyond loopback it needs broker.passwordFile or client certificates, and serves only TLS: broker.tls, else a self-signed {dataDir}/tls/broker.crt)')
  .option('--api-port <n>', `local API port (default ${DEFAULTS.apiPort})`, port)
  .option('--api-host <address>', `address the local API listens on (default ${DEFAULTS.apiHost}); beyond loopback it needs --api-token-file or api.tls.clientCa, and serves only HTTPS: api.tls, else a self-signed {dataDir}/tls/api.crt`)
  .option('--api-token-file <file>', 'file holding the bearer token every API request must carry')
  .option('--log-level <level>', 'trace | debug | info | warn | error | fatal | silent')
  .option('--cloud <url>', 'connect to `edgetwin cloud` (or KubeEdge cloudcore) at wss://host:10000; run `edgetwin join` first')
  .option('--no-live', 'write the log to stderr instead of the live table on a terminal')
  .option('--pods <path...>', 'Pod, ConfigMap and Secret YAML files or folders to run on containerd, with no cloud (turns edged on)')
  .option('--dmi-socket <path>', 'serve KubeEdge DMI (DeviceManagerService) for mappers in other processes on this unix socket (turns dmi on; default socket {dataDir}/dmi.sock with dmi.enabled)')
  .option('--ble-binding <binding>', 'BLE devices use hci (a real adapter, the default) or sim:<file> (a simulated BLE world)')
  .action(async (opts) => {
    if (opts.bleBinding) {
      try {
        (await import('../mappers/ble/index.ts')).bleLoader.use(opts.bleBinding);
      } catch (err) {
        const { configError, exitCodeOf, formatFailure } = await import('./failure.ts');
        const e = configError((err as Error).message, { flag: '--ble-binding' }, 'use hci (a real adapter) or sim:<file> (a simulated BLE world)');
        process.stderr.write(formatFailure(e));
        process.exitCode = exitCodeOf(e);
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
      brokerHost: opts.brokerHost,
      apiPort: opts.apiPort,
      apiHost: opts.apiHost,
      apiTokenFile: opts.apiTokenFile,
      logLevel: opts.logLevel,
      cloud: opts.cloud,
      pods: opts.pods,
      dmiSocket: opts.dmiSocket,
      live: opts.live === false ? false : undefined,
      bleBinding: opts.bleBinding,
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

apiFlags(program.command('devices').description('list the devices of a running gateway'))
  .option('--json', 'print JSON')
  .action(client(async (opts: ApiFlags & { json?: boolean }) => (await twinCommands()).devicesCommand(target(opts), Boolean(opts.json))));

const twin = program.command('twin').description('read and set a device\'s twin on a running gateway');
apiFlags(twin.command('get').argument('<device>', '<namespace>/<name>'))
  .option('--json', 'print JSON')
  .action(client(async (ref: string, opts: ApiFlags & { json?: boolean }) => (await twinCommands()).twinGetCommand(target(opts), ref, Boolean(opts.json))));
apiFlags(twin.command('set').argument('<device>', '<namespace>/<name>').argument('<assignments...>', '<property>=<value> ...'))
  .action(client(async (ref: string, assignments: string[], opts: ApiFlags) => (await twinCommands()).twinSetCommand(target(opts), ref, assignments)));

const cloudCommands = () => import('./cloud-command.ts');

const cloud = program
  .command('cloud')
  // `cloud token --state-dir x`: the subcommand's own --state-dir, not the parent's.
  .enablePositionalOptions()
  .description('run the cloud side of the cloud-edge link: CloudHub (:10000), the join server (:10002), the fleet view, /metrics and /healthz (127.0.0.1:10080)')
  .option('--listen <addr>', 'address CloudHub and the join server listen on (default: all interfaces)')
  .option('--port <n>', 'CloudHub WebSocket port (default 10000)', port)
  .option('--join-port <n>', 'join server HTTPS port (default 10002)', port)
  .option('--http-port <n>', 'the fleet view, /metrics and /healthz port (default 10080)', port)
  .option('--http-listen <addr>', 'address of the fleet view, /metrics and /healthz (default 127.0.0.1; beyond loopback it needs --http-token-file and serves HTTPS with a certificate of the cloud\'s CA)')
  .option('--http-token-file <file>', 'file holding the bearer token the fleet view asks for (the page signs in with it)')
  .option('--http-allowed-hosts <names>', 'comma-separated host names the fleet view is reached by, besides its address')
  .option('--advertise <hosts>', 'comma-separated names and addresses for the server certificate (default: hostname, 127.0.0.1, this machine\'s addresses)')
  .option('--state-dir <dir>', 'where the CA, the ACK record and the report log live (default ./edgetwin-cloud)')
  .option('--kubeconfig <file>', 'Kubernetes config (default: KUBECONFIG, then in-cluster); with it the device and node controllers run')
  .option('--namespace <ns>', 'the cloud\'s namespace in Kubernetes, where its CA Secret lives (default edgetwin)')
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
  .option('--kubeconfig <file>', 'read the CA from Secret edgetwin-ca in this cluster (default: KUBECONFIG, then in-cluster; without any: the state directory)')
  .option('--namespace <ns>', 'the cloud\'s namespace (default edgetwin)')
  .action(client(async (opts: { ttl?: string; stateDir?: string; kubeconfig?: string; namespace?: string }) => {
    await (await cloudCommands()).tokenCommand(opts);
  }));

cloud
  .command('install-crds')
  .description('create or update the Device, DeviceModel, DeviceStatus, ObjectSync and ClusterObjectSync CRDs (a superset of KubeEdge\'s)')
  .option('--dry-run', 'print them as YAML instead (pipe into `kubectl apply -f -`)')
  .option('--force', 'replace a CRD whose installed schema has fields ours does not')
  .option('--kubeconfig <file>', 'Kubernetes config (default: KUBECONFIG, then in-cluster)')
  .action(client(async (opts: { dryRun?: boolean; force?: boolean; kubeconfig?: string }) => {
    await (await cloudCommands()).installCrdsCommand(opts);
  }));

cloud
  .command('revoke')
  .description('refuse a node\'s certificates from now on (a stolen gateway); the running cloud ends its session')
  .argument('<node>', 'the node name')
  .option('--state-dir <dir>', 'the cloud\'s state directory (default ./edgetwin-cloud)')
  .action(client(async (node: string, opts: { stateDir?: string }) => {
    await (await cloudCommands()).revokeCommand(node, opts);
  }));

const mapper = program.command('mapper').description('write and run mapper drivers');
mapper
  .command('new')
  .description('write a driver package (driver, schemas, simulator, conformance test, example Device) into a new folder')
  .argument('<dir>', 'the new folder; its name is the npm package name')
  .option('--protocol <name>', 'protocolName in Device YAML (default: the folder name without edgetwin-driver-)')
  .action(async (dir: string, opts: { protocol?: string }) => {
    process.exitCode = (await import('./mapper-new.ts')).mapperNewCommand(dir, opts);
  });
mapper
  .command('serve')
  .description('run a driver (built-in or a --driver package) as a standalone KubeEdge DMI mapper: register with edgecore\'s (or an edgetwin gateway\'s) DeviceManagerService, serve DeviceMapperService, report twins and states')
  .requiredOption('--protocol <name>', 'the protocolName this mapper serves; a driver for it must load')
  .option('--dmi-socket <path>', 'the device manager\'s DMI socket (default /etc/kubeedge/dmi.sock, edgecore\'s)')
  .option('--socket <path>', 'where this mapper\'s DeviceMapperService listens (default <protocol>.sock beside --dmi-socket)')
  .option('--driver <package or path>', 'load a driver package besides the built-in drivers (repeatable)', repeat)
  .option('--config <file>', 'YAML config file whose drivers: and dataDir to use')
  .option('--data-dir <dir>', 'data directory for drivers that keep state (default ./edgetwin-mapper-data)')
  .option('--name <name>', 'the mapper name it registers with (default edgetwin-<driver>)')
  .option('--retry-ms <n>', 'delay between attempts to register, and to write a desired value the device did not take (default 5000)', (v: string) => {
    const n = /^\d{1,7}$/.test(v) ? Number(v) : NaN;
    if (!(n >= 10)) throw new InvalidArgumentError('a whole number of milliseconds, at least 10');
    return n;
  })
  .option('--log-level <level>', 'trace | debug | info | warn | error | fatal | silent')
  .action(async (opts) => {
    process.exitCode = await (await import('./mapper-serve.ts')).mapperServeCommand(opts);
  });
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
