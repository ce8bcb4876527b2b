// Silence of a pushed stream is the runtime's to notice: a driver says how long a stream may be
// quiet (Driver.streamTimeout) and what it saw meanwhile (Connection.silence); the runtime turns
// the pushed properties bad (counted again each timeout), and good when data flows again.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { IoCodes } from '../../core/errors.ts';
import { silentLogger } from '../../core/log.ts';
import { waitFor as waitUntil } from '../../core/testing.ts';
import { makeDevice, RecordingSink, waitFor } from './conformance/harness.ts';
import { defineDriver, SDK_VERSION, type RawReading } from './driver.ts';
import { MapperHost } from './host.ts';

test('a pushed stream that stops turns bad after streamTimeout with the driver\'s message, repeatedly, and good when it resumes', async () => {
  let emit: ((readings: RawReading[]) => void) | undefined;
  const driver = defineDriver<Record<string, never>, Record<string, never>>({
    name: 'stream',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object' },
    streamTimeout: () => 120,
    async connect() {
      return {
        async read() {
          throw new Error('a stream is not polled');
        },
        async write() {},
        async subscribe(_properties, e) {
          emit = e;
          return async () => { emit = undefined; };
        },
        silence: (ms) => `the meter sent nothing for ${ms} ms`,
        async close() {},
      };
    },
  });
  const sink = new RecordingSink();
  const host = new MapperHost({ sink, drivers: [{ name: 'stream', load: async () => driver }], log: silentLogger, dataDir: '.', registry: new Registry() });
  try {
    const device = makeDevice({ name: 'meter', protocol: 'stream', config: {}, properties: [{ name: 'weight', type: 'double', visitor: {} }] });
    assert.deepEqual((await host.apply([device])).errors, []);
    await waitFor(() => emit, 'the subscription');
    emit!([{ property: 'weight', value: 12.5 }]);
    await waitFor(() => sink.latest(device.id, 'weight')?.value === 12.5, 'the first value');
    const silent = await waitFor(() => sink.readings.find((r) => r.quality === 'bad'), 'the silence reported');
    assert.equal(silent.error?.code, IoCodes.TIMED_OUT);
    assert.equal(silent.error?.message, 'the meter sent nothing for 120 ms');
    assert.equal(host.state(device.id), 'online', 'silence is not a broken link');
    // The twin hears the bad value once (the report filter drops repeats); the error count goes on.
    const timeouts = async () => (await host.metrics.readErrors.get()).values.filter((v) => v.labels.code === IoCodes.TIMED_OUT).reduce((n, v) => n + v.value, 0);
    await waitUntil('counted again after another timeout', async () => (await timeouts()) >= 2);
    emit!([{ property: 'weight', value: 13 }]);
    await waitFor(() => sink.latest(device.id, 'weight')?.value === 13, 'good again when data flows');
  } finally {
    await host.close();
  }
});
