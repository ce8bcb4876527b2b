// The serial instrument driver on a real UART, where baud rates and inter-byte gaps are real
// (a pty ignores both). Opt-in:
//   EDGETWIN_SERIAL_PORT=/dev/ttyUSB0   the adapter the gateway opens
//   EDGETWIN_SERIAL_BAUD=115200         optional, default 115200
// and one of
//   EDGETWIN_SERIAL_LOOPBACK=1          TX wired to RX on that adapter: every command comes back
//   EDGETWIN_SERIAL_PEER=/dev/ttyUSB1   a second adapter on a null-modem cable to the first: a
//                                       simulated SCPI meter and a frame streamer run on it
// Without them every test is skipped with the reason.

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../core/log.ts';
import type { ConfigData } from '../core/model/types.ts';
import { LinkRegistry, MapperHost } from '../mappers/sdk/index.ts';
import { makeDevice, RecordingSink, waitFor } from '../mappers/sdk/testing.ts';
import type { PropertyInput } from '../mappers/sdk/conformance/harness.ts';
import { serialLoader } from '../mappers/serial/index.ts';
import { appendChecksum } from '../mappers/serial/checksum.ts';
import { ScpiMeter } from '../examples/serial-instruments/instruments.ts';

const port = process.env.EDGETWIN_SERIAL_PORT;
const baudRate = Number(process.env.EDGETWIN_SERIAL_BAUD ?? 115200);
const loopback = process.env.EDGETWIN_SERIAL_LOOPBACK === '1';
const peer = process.env.EDGETWIN_SERIAL_PEER;
const WAIT = 20_000;

async function withDevice(config: ConfigData, properties: PropertyInput[], fn: (sink: RecordingSink, host: MapperHost, id: string) => Promise<void>) {
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [serialLoader], log: silentLogger, dataDir: '.', backoff: { initialMs: 50, maxMs: 500 } });
  const device = makeDevice({ name: 'hw-serial', protocol: 'serial', config: { serialPort: port, baudRate, timeout: 500, ...config }, properties });
  try {
    const { errors } = await host.apply([device]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    await fn(sink, host, device.id);
  } finally {
    await host.close();
  }
}

const good = (sink: RecordingSink, id: string, property: string) =>
  waitFor(() => sink.readings.find((r) => r.device === id && r.property === property && r.quality === 'good'), `a good ${property}`, WAIT);

describe('serial on a real adapter with TX looped to RX', { skip: !port || !loopback ? 'set EDGETWIN_SERIAL_PORT and EDGETWIN_SERIAL_LOOPBACK=1 (TX wired to RX) to run' : false }, () => {
  it('a text command comes back through the UART and is extracted', async () => {
    await withDevice({ framing: { type: 'delimiter', delimiter: '\\n' } }, [{ name: 'echo', type: 'double', visitor: { command: 'PING 42.5\\n', extract: { regex: '^PING ([0-9.]+)$' } } }], async (sink, _host, id) => {
      assert.equal((await good(sink, id, 'echo')).value, 42.5);
    });
  });

  it('a binary frame with crc16-modbus survives the line, under fixed framing', async () => {
    await withDevice({ address: 7, framing: { type: 'fixed', length: 6 }, checksum: { type: 'crc16-modbus' } }, [{ name: 'word', type: 'int', visitor: { command: { hex: '{address} 04 12 34' }, extract: { bytes: { offset: 2, type: 'uint16' } } } }], async (sink, _host, id) => {
      assert.equal((await good(sink, id, 'word')).value, 0x1234);
    });
  });

  it('silence framing with a 5 ms gap, shorter than a pty test can trust', async () => {
    await withDevice({ framing: { type: 'silence', silenceMs: 5 }, checksum: { type: 'crc16-ccitt' } }, [{ name: 'word', type: 'int', visitor: { command: { hex: '55 aa 00 2a' }, extract: { bytes: { offset: 2, type: 'uint16' } } } }], async (sink, _host, id) => {
      assert.equal((await good(sink, id, 'word')).value, 42);
    });
  });
});

describe('serial on two real adapters on a null-modem cable', { skip: !port || !peer ? 'set EDGETWIN_SERIAL_PORT and EDGETWIN_SERIAL_PEER (two adapters on a null-modem cable) to run' : false }, () => {
  const links = new LinkRegistry();
  after(() => links.closeAll());

  it('polls a SCPI meter and writes its range at the real baud rate', async () => {
    const meter = new ScpiMeter();
    await meter.start(peer!, baudRate);
    try {
      await withDevice({ framing: { type: 'delimiter', delimiter: '\\n' }, errorPattern: '^ERR' }, [
        { name: 'voltage', type: 'double', visitor: { command: 'MEAS:VOLT?\\n' } },
        { name: 'range', type: 'int', accessMode: 'ReadWrite', visitor: { command: 'VOLT:RANGE?\\n', write: { command: 'VOLT:RANGE {value};*OPC?\\n', expect: '^1$' } } },
      ], async (sink, host, id) => {
        assert.equal((await good(sink, id, 'voltage')).value, 12.5);
        const outcome = await host.write(id, 'range', 100);
        assert.equal(outcome.ok, true, outcome.error?.message);
        assert.equal(outcome.readBack, 100);
      });
    } finally {
      await meter.stop();
    }
  });

  it('separates streamed binary frames by 10 ms gaps', async () => {
    const link = await links.acquireSerial({ path: peer!, baudRate }, 'serial-peer');
    let n = 0;
    const timer = setInterval(() => {
      const frame = Buffer.alloc(4);
      frame.writeUInt16BE(0x0710, 0);
      frame.writeUInt16BE(++n, 2);
      link.port.write(appendChecksum({ type: 'crc16-modbus' }, frame));
    }, 10);
    try {
      await withDevice({ framing: { type: 'silence', silenceMs: 3 }, checksum: { type: 'crc16-modbus' } }, [{ name: 'count', type: 'int', visitor: { stream: '^\\x07\\x10', extract: { bytes: { offset: 2, type: 'uint16' } } } }], async (sink, _host, id) => {
        await waitFor(() => sink.readings.filter((r) => r.device === id && r.quality === 'good').length >= 50, '50 frames', WAIT);
        const values = sink.readings.filter((r) => r.device === id && r.quality === 'good').map((r) => r.value as number);
        assert.ok(values.every((v, i) => i === 0 || v === values[i - 1]! + 1), `every frame on its own, none joined: ${values.join(',')}`);
      });
    } finally {
      clearInterval(timer);
      await links.release(link.key);
    }
  });
});
