// The shared body of the type-and-order tests: read every fixture case through MapperHost, write
// every writable one, then check what the registers hold with a bare request (not the driver).

import assert from 'node:assert/strict';
import { silentLogger } from '../../../core/log.ts';
import type { ConfigData } from '../../../core/model/types.ts';
import { sameValue } from '../../../core/values.ts';
import { MapperHost } from '../../sdk/index.ts';
import { RecordingSink, waitFor } from '../../sdk/testing.ts';
import { modbusLoader } from '../index.ts';
import { parseResponse, readRequest } from '../pdu.ts';
import type { Transport } from '../transport.ts';
import { fixtureCases, fixtureDevice, type FixtureCase } from './fixture.ts';
import { IoCodes } from '../../../core/errors.ts';

const FC = { hr: 3, ir: 4, co: 1, di: 2 } as const;

/** What the device holds now for a case, read with a bare request on `transport`. */
export async function wireWordsOf(transport: Transport, unit: number, c: FixtureCase): Promise<number[]> {
  const req = readRequest(FC[c.table], Number(c.visitor.offset), c.words.length);
  const data = parseResponse(req, await transport.request(unit, req, AbortSignal.timeout(5000)));
  if (c.table === 'co' || c.table === 'di') return c.words.map((_, i) => (data[i >> 3]! >> (i & 7)) & 1);
  return c.words.map((_, i) => (data[2 * i]! << 8) | data[2 * i + 1]!);
}

/** Reads and writes every case; returns the cases written, for the caller's check of the registers. */
export async function readAndWriteEverything(config: ConfigData, label: string): Promise<FixtureCase[]> {
  const cases = fixtureCases();
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [modbusLoader], log: silentLogger, dataDir: '.' });
  try {
    const device = fixtureDevice(`fixture-${label}`, config, cases);
    const { errors } = await host.apply([device]);
    assert.deepEqual(errors.map((e) => e.format()), []);
    for (const c of cases) {
      const r = await waitFor(() => sink.readings.find((x) => x.property === c.name && x.error?.code !== IoCodes.NOT_CONNECTED), `a reading of ${c.name}`);
      assert.equal(r.quality, 'good', `${c.name}: ${r.error?.code} ${r.error?.message}`);
      assert.ok(sameValue(r.value, c.expect), `${c.name}: expected ${String(c.expect)}, read ${String(r.value)}`);
    }
    const written = cases.filter((x) => x.write);
    for (const c of written) {
      const outcome = await host.write(device.id, c.name, c.write!.value);
      assert.equal(outcome.ok, true, `writing ${c.name}: ${outcome.error?.code} ${outcome.error?.message}`);
      assert.ok(sameValue(outcome.readBack, c.write!.value), `${c.name}: wrote ${String(c.write!.value)}, read back ${String(outcome.readBack)}`);
    }
    return written;
  } finally {
    await host.close();
  }
}

export async function assertWireAfterWrites(transport: Transport, unit: number, written: FixtureCase[]): Promise<void> {
  for (const c of written) assert.deepEqual(await wireWordsOf(transport, unit, c), c.write!.words, `${c.name}: the registers after the write`);
}
