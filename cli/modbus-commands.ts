// `edgetwin modbus probe`: one read, every interpretation. The Modbus code loads only when it runs.

import type { Command } from 'commander';
import { renderTable } from './table.ts';

interface ProbeFlags {
  unit: string;
  table: string;
  address: string;
  count: string;
  expect?: string;
  json?: boolean;
  timeout: string;
  baud: string;
  parity: string;
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return n;
}

export function registerModbusCommands(program: Command): void {
  const modbus = program.command('modbus').description('Modbus TCP and RTU tools');
  modbus
    .command('probe')
    .description('read registers once and print every interpretation (int16, uint16, int32, uint32, float32 in all four orders, string)')
    .argument('<target>', 'tcp://host:port, or a serial device such as /dev/ttyUSB0')
    .option('--unit <id>', 'unit id (slaveID)', '1')
    .option('--table <table>', 'holding, input, coil or discrete', 'holding')
    .option('--address <a>', '0-based PDU address (the offset in Device YAML)', '0')
    .option('--count <n>', 'registers or bits to read', '2')
    .option('--expect <value>', 'a value you know (e.g. 229.0): names the interpretations that show it')
    .option('--json', 'print JSON')
    .option('--timeout <ms>', 'answer timeout', '1000')
    .option('--baud <rate>', 'serial baud rate', '19200')
    .option('--parity <p>', 'serial parity: none, even or odd', 'even')
    .action(async (target: string, flags: ProbeFlags) => {
      try {
        const { probe, PROBE_TABLES } = await import('../mappers/modbus/probe.ts');
        if (!(flags.table in PROBE_TABLES)) throw new Error(`--table must be holding, input, coil or discrete, got "${flags.table}"`);
        const bits = flags.table === 'coil' || flags.table === 'discrete';
        const expectNumber = flags.expect === undefined ? undefined : Number(flags.expect);
        const result = await probe({
          target,
          unit: integer('unit', flags.unit, 0, 255),
          table: flags.table,
          address: integer('address', flags.address, 0, 65535),
          count: integer('count', flags.count, 1, bits ? 2000 : 125),
          expect: flags.expect === undefined ? undefined : Number.isFinite(expectNumber) ? expectNumber : flags.expect,
          timeoutMs: integer('timeout', flags.timeout, 1, 600_000),
          baudRate: integer('baud', flags.baud, 50, 4_000_000),
          parity: flags.parity as 'none' | 'even' | 'odd',
        });
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(result)}\n`);
          return;
        }
        const out: string[] = [`${result.table} ${result.address}..${result.address + result.count - 1}, unit ${result.unit}, ${result.target}`, ''];
        out.push(renderTable(['address', bits ? 'bit' : 'hex', bits ? '' : 'decimal'], result.raw.map((w, i) => [String(result.address + i), bits ? String(w) : `0x${w.toString(16).padStart(4, '0')}`, bits ? '' : String(w)])));
        if (!bits) {
          const row = (x: (typeof result.interpretations)[number]) => [String(x.address), x.type, x.order ?? '', typeof x.value === 'string' ? JSON.stringify(x.value) : String(x.value), x.match === undefined ? '' : x.match === 1 ? '<- match' : `<- match at scale ${x.match}`];
          out.push(renderTable(['address', 'type', 'order', 'value', ''], result.interpretations.map(row)));
          if (flags.expect !== undefined) {
            out.push(result.matches.length
              ? `${flags.expect} is: ${result.matches.map((m) => `${m.type}${m.order ? ` ${m.order}` : ''} at ${m.address}${m.match !== 1 ? ` with scale ${m.match}` : ''}`).join('; ')}`
              : `no interpretation shows ${flags.expect}; try another --address or --table`);
          }
        }
        process.stdout.write(`${out.join('\n')}\n`);
      } catch (err) {
        process.stderr.write(`modbus probe failed: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
