// `edgetwin ble scan` and `edgetwin ble onboard`: find sensors, and propose the YAML for one.
// noble loads inside the actions, so other commands never pay for it.

import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';

interface BleFlags { adapter: string; bleBinding: string; json?: boolean }

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('a positive number');
  return n;
}

/** Runs a scan or an onboarding; a failure is one line on stderr and exit 1, never a stack trace. */
async function guarded(fn: (proposals: typeof import('./proposals.ts')) => Promise<void>): Promise<void> {
  try {
    await fn(await import('./proposals.ts'));
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    process.exitCode = 1;
  }
}

function common(cmd: Command): Command {
  return cmd
    .option('--adapter <name>', 'HCI adapter', 'hci0')
    .option('--ble-binding <binding>', 'hci (a real adapter) or sim:<file> (a simulated BLE world)', 'hci')
    .option('--json', 'print JSON');
}

export function registerBleCommands(program: Command): void {
  const ble = program.command('ble').description('Bluetooth Low Energy sensors: scan, and onboard one with a proposed Device YAML');

  common(ble.command('scan'))
    .description('list advertising devices: address, name, RSSI, services, manufacturer data')
    .option('--name <pattern>', 'advertised name contains this (or /regex/)')
    .option('--service <uuid>', 'advertises this service UUID')
    .option('--seconds <n>', 'how long to listen', positive, 5)
    .action(async (opts: BleFlags & { name?: string; service?: string; seconds: number }) => {
      // The BLE driver's discover(), through the same call the dashboard's onboarding makes.
      await guarded(async ({ scanBle }) => {
        const found = await scanBle(opts.bleBinding, opts.adapter, { seconds: opts.seconds, name: opts.name, service: opts.service });
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(found, null, 2)}\n`);
          return;
        }
        const { renderTable } = await import('./table.ts');
        const rows = found.map((r) => [
          r.address.toUpperCase(), r.name ?? '', String(r.rssi), r.services.join(' '),
          r.manufacturerData ?? '', r.serviceData.map((s) => `${s.uuid}=${s.data}`).join(' '), r.connectable ? 'yes' : 'no',
        ]);
        process.stdout.write(renderTable(['ADDRESS', 'NAME', 'RSSI', 'SERVICES', 'MANUFACTURER DATA', 'SERVICE DATA', 'CONNECTABLE'], rows));
        process.stdout.write(`${found.length} device(s) in ${opts.seconds} s\n`);
      });
    });

  common(ble.command('onboard'))
    .description('connect, discover services, read the well-known characteristics, print a DeviceModel and Device proposal')
    .argument('<address>', 'the sensor\'s address, as `ble scan` lists it')
    .option('--timeout <ms>', 'for finding and connecting', positive, 15000)
    .action(async (address: string, opts: BleFlags & { timeout: number }) => {
      await guarded(async ({ onboardBle }) => {
        const result = await onboardBle(opts.bleBinding, opts.adapter, address, opts.timeout);
        if (opts.json) {
          process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
          return;
        }
        for (const c of result.characteristics) {
          const value = c.value !== undefined ? ` = ${c.value}` : c.error ? ` (read failed: ${c.error})` : '';
          process.stderr.write(`  ${c.service} ${c.uuid} [${c.properties.join(', ')}]${c.name ? ` ${c.name}` : ''}${value}\n`);
        }
        process.stdout.write(result.yaml);
      });
    });
}
