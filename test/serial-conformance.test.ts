// The mapper conformance kit for the serial driver, against the simulated SCPI meter behind a
// socat pty pair; restart() kills socat, so the gateway's port vanishes and must be reopened.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformance, type ConformanceSimulator, type SimulatedDevice } from '../mappers/sdk/testing.ts';
import { serialLoader } from '../mappers/serial/index.ts';
import { PtyPair } from '../examples/serial-instruments/pty.ts';
import { ScpiMeter } from '../examples/serial-instruments/instruments.ts';

function meterSimulator(): ConformanceSimulator {
  let dir: string | undefined;
  let pty: PtyPair | undefined;
  let meter: ScpiMeter | undefined;
  const up = async () => {
    await pty!.start();
    meter = new ScpiMeter();
    await meter.start(pty!.instrument);
  };
  const down = async () => {
    await meter?.stop();
    await pty?.stop();
  };
  return {
    async start(): Promise<SimulatedDevice> {
      dir = mkdtempSync(join(tmpdir(), 'edgetwin-serial-'));
      pty = new PtyPair(join(dir, 'gateway'), join(dir, 'meter'));
      await up();
      return {
        protocol: { serialPort: pty.gateway, baudRate: 9600, framing: { type: 'delimiter', delimiter: '\\n' }, errorPattern: '^ERR', timeout: 500 },
        properties: [
          { name: 'identity', type: 'string', visitor: { command: '*IDN?\\n' }, expect: 'EDGETWIN,DMM-1,0001,1.0' },
          { name: 'voltage', type: 'double', visitor: { command: 'MEAS:VOLT?\\n', extract: { regex: '^([-+0-9.E]+)$' } }, expect: 12.5 },
          {
            name: 'range', type: 'int', accessMode: 'ReadWrite', write: 100,
            visitor: { command: 'VOLT:RANGE?\\n', extract: { regex: '^(\\d+)$' }, write: { command: 'VOLT:RANGE {value};*OPC?\\n', expect: '^1$' } },
          },
        ],
        failing: { name: 'frequency', type: 'double', visitor: { command: 'MEAS:FREQ?\\n' } },
      };
    },
    async stop() {
      await down();
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
    async restart() {
      await down();
      await up();
    },
  };
}

runConformance({
  driver: serialLoader,
  simulator: meterSimulator(),
  badConfigs: [
    { name: 'missing serialPort', protocol: { baudRate: 9600, framing: { type: 'delimiter' } }, field: 'serialPort' },
    { name: 'unknown framing type', protocol: { serialPort: '/dev/null', framing: { type: 'slip' } }, field: 'framing' },
    { name: 'fixed framing without length', protocol: { serialPort: '/dev/null', framing: { type: 'fixed' } }, field: 'length' },
    { name: 'unknown checksum', protocol: { serialPort: '/dev/null', framing: { type: 'delimiter' }, checksum: { type: 'crc32' } }, field: 'checksum' },
    { name: 'bad parity', protocol: { serialPort: '/dev/null', framing: { type: 'delimiter' }, parity: 'sometimes' }, field: 'parity' },
    { name: 'a property with neither command nor stream', visitor: { property: 'voltage', configData: { extract: { regex: '(.*)' } } }, field: 'command' },
    { name: 'an invalid regex', visitor: { property: 'voltage', configData: { command: 'X\\n', extract: { regex: '([' } } }, field: 'extract.regex' },
    { name: '{address} without an address', visitor: { property: 'voltage', configData: { command: '{address}:V?\\n' } }, field: 'address' },
    { name: 'bad hex command', visitor: { property: 'voltage', configData: { command: { hex: '0g' } } }, field: 'command' },
  ],
});
