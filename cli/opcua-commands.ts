// `edgetwin opcua browse <url>`: walk a server's address space and print a DeviceModel + Device
// proposal. node-opcua loads inside the action, so other commands never pay for it.

import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import { DEFAULTS } from './config.ts';

interface BrowseFlags {
  depth: number;
  filter?: string;
  name?: string;
  namespace: string;
  collectCycle: number;
  dataDir: string;
  securityPolicy?: string;
  securityMode?: 'None' | 'Sign' | 'SignAndEncrypt';
  user?: string;
  passwordFile?: string;
  timeout: number;
  includeServer?: boolean;
  uris?: boolean;
  json?: boolean;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('a positive whole number');
  return n;
}

export function registerOpcuaCommands(program: Command): void {
  const opcua = program.command('opcua').description('OPC UA servers: browse the address space and propose Device YAML');
  opcua
    .command('browse')
    .description('walk the address space from Objects and print a DeviceModel and Device proposal for its variables')
    .argument('<url>', 'endpoint, e.g. opc.tcp://plc.local:4840')
    .option('--depth <n>', 'levels below the Objects folder', positiveInt, 4)
    .option('--filter <pattern>', 'keep variables whose browse path matches this glob, e.g. "Line1/*" or "*Temperature"')
    .option('--name <name>', 'device name (default: from the server address)')
    .option('--namespace <ns>', 'Kubernetes namespace of the proposal', 'default')
    .option('--collect-cycle <ms>', 'collectCycle of each property', positiveInt, 1000)
    .option('--data-dir <dir>', `the gateway data directory, whose pki/opcua holds the client certificate (default ${DEFAULTS.dataDir})`, DEFAULTS.dataDir)
    .option('--security-policy <policy>', 'None | Basic256Sha256 | Aes128_Sha256_RsaOaep | Aes256_Sha256_RsaPss')
    .option('--security-mode <mode>', 'None | Sign | SignAndEncrypt')
    .option('--user <name>', 'user name')
    .option('--password-file <file>', 'file holding the password (never pass a password on the command line)')
    .option('--timeout <s>', 'seconds for connect and each request', positiveInt, 10)
    .option('--include-server', 'also walk the standard Server object')
    .option('--uris', 'write nodeIDs with namespace URIs (nsu=...) instead of indexes (ns=...)')
    .option('--json', 'print the variables as JSON instead of YAML')
    .action(async (url: string, opts: BrowseFlags) => {
      try {
        // The driver's discover(), through the same call the dashboard's onboarding makes.
        const { proposeOpcua } = await import('./proposals.ts');
        const { variables, yaml } = await proposeOpcua({ url, ...opts }, opts.dataDir);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(variables, null, 2)}\n`);
          return;
        }
        if (!yaml) {
          process.stderr.write(`error: no variables found under Objects within depth ${opts.depth}${opts.filter ? ` matching ${opts.filter}` : ''}\n`);
          process.exitCode = 1;
          return;
        }
        for (const v of variables) process.stderr.write(`  ${v.path.join('/')}  ${v.nodeId}  ${v.dataType}${v.writable ? '  writable' : ''}\n`);
        process.stdout.write(yaml);
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
