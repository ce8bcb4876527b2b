// The mapper conformance kit, in the spirit of aedes' abstract test suites: one call defines the
// node:test tests every driver plus its simulator must pass. Everything runs through MapperHost,
// the way the gateway drives a driver, so the kit checks the contract users rely on.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCodes, IoCodes } from '../../../core/errors.ts';
import { silentLogger } from '../../../core/log.ts';
import type { ConfigData } from '../../../core/model/types.ts';
import { sameAtWirePrecision, type PropertyType, type PropertyValue } from '../../../core/values.ts';
import { MapperHost, type DriverLoader } from '../host.ts';
import { activeResources, leakedResources, makeDevice, RecordingSink, waitFor } from './harness.ts';
import { DriverTrail } from './trail.ts';

/** One property the simulator serves. */
export interface SimulatedProperty {
  name: string;
  /** The twin's lower-case type (int, float, double, string, boolean, bytes), not the DeviceModel's INT/DOUBLE. */
  type: PropertyType;
  accessMode?: 'ReadWrite' | 'ReadOnly';
  visitor: ConfigData;
  /** The value the simulator holds, when fixed: the first good reading must equal it. */
  expect?: PropertyValue;
  /** For a ReadWrite property: a value to write; the read-back must equal it. */
  write?: PropertyValue;
}

/** How to reach the simulated device, as the driver's configData says it. */
export interface SimulatedDevice {
  protocol: ConfigData;
  properties: SimulatedProperty[];
  /**
   * A property whose every read the simulator makes fail (an unmapped register, a missing node, a
   * key the instrument answers ERR for). The kit expects quality bad with an upper-case code while
   * the other properties keep reading good. Leave it out only when the protocol cannot fail one value.
   */
  failing?: SimulatedProperty;
}

/**
 * The peer a driver talks to: a TCP server, a pty pair, an emulated BLE peripheral, an in-process
 * switch. start() may be called again after stop() and must serve at the same address.
 */
export interface ConformanceSimulator {
  start(): Promise<SimulatedDevice>;
  stop(): Promise<void>;
  /** Drop every connection and come back at the same address (a power cycle). */
  restart(): Promise<void>;
}

/** A configuration the driver must reject, and the field its error must name. */
export interface BadConfig {
  name: string;
  protocol?: ConfigData;
  visitor?: { property: string; configData: ConfigData };
  field: string;
}

export interface ConformanceOptions {
  driver: DriverLoader;
  simulator: ConformanceSimulator;
  badConfigs: BadConfig[];
  /** Longest wait for any one condition; default 20 s (generous: machines are shared and noisy). */
  timeoutMs?: number;
  /** The gateway data directory the driver gets (certificate stores live there); default '.'. */
  dataDir?: string;
}

const TYPE_OF: Record<PropertyType, (v: PropertyValue) => boolean> = {
  int: (v) => (typeof v === 'number' && Number.isInteger(v)) || typeof v === 'bigint',
  float: (v) => typeof v === 'number',
  double: (v) => typeof v === 'number',
  string: (v) => typeof v === 'string',
  boolean: (v) => typeof v === 'boolean',
  bytes: (v) => v instanceof Uint8Array,
};

export function runConformance(opts: ConformanceOptions): void {
  const wait = opts.timeoutMs ?? 20_000;
  const protocol = opts.driver.name;

  describe(`mapper conformance: ${protocol}`, () => {
    let sim: SimulatedDevice;
    let serial = 0;

    before(async () => {
      sim = await opts.simulator.start();
    });
    after(async () => {
      await opts.simulator.stop();
    });

    const device = (overrides: { protocol?: ConfigData; visitor?: BadConfig['visitor']; withFailing?: boolean } = {}) => {
      const props = [...sim.properties, ...(overrides.withFailing && sim.failing ? [sim.failing] : [])];
      return makeDevice({
        name: `conformance-${protocol}-${++serial}`,
        protocol,
        config: overrides.protocol ?? sim.protocol,
        properties: props.map((p) => ({
          name: p.name,
          type: p.type,
          accessMode: p.accessMode,
          visitor: overrides.visitor?.property === p.name ? overrides.visitor.configData : p.visitor,
        })),
      });
    };

    const trail = new DriverTrail();
    const driver = trail.wrap(opts.driver);
    const withHost = async <T>(fn: (host: MapperHost, sink: RecordingSink) => Promise<T>): Promise<T> => {
      const sink = new RecordingSink();
      const host = new MapperHost({ sink, drivers: [driver], log: silentLogger, dataDir: opts.dataDir ?? '.', backoff: { initialMs: 50, maxMs: 500 } });
      trail.clear();
      try {
        return await fn(host, sink);
      } catch (err) {
        // The kit's own assertion says what was expected; the trail says what the driver did, and where.
        const state = sink.states.at(-1);
        const context = `${state ? `\nlast device state: ${state.state}${state.reason ? ` (${state.reason})` : ''}` : ''}${trail.describe()}`;
        if (err instanceof Error && context) err.message += context;
        throw err;
      } finally {
        await host.close();
      }
    };

    const goodReading = (sink: RecordingSink, id: string, name: string, since = 0) =>
      sink.readings.slice(since).find((r) => r.device === id && r.property === name && r.quality === 'good');

    test('accepts the simulator configuration', async () => {
      await withHost(async (host) => {
        const { accepted, errors } = await host.check([device()]);
        assert.deepEqual(errors.map((e) => e.format()), []);
        assert.equal(accepted.length, 1);
      });
    });

    for (const bad of opts.badConfigs) {
      test(`rejects bad configuration: ${bad.name}, naming ${bad.field}`, async () => {
        await withHost(async (host) => {
          const { accepted, errors } = await host.check([device({ protocol: bad.protocol, visitor: bad.visitor })]);
          assert.equal(accepted.length, 0, 'the device must not be accepted');
          assert.ok(errors.length > 0, 'an error must be reported');
          const text = errors.map((e) => e.format()).join('\n');
          assert.ok(text.includes(bad.field), `the error must name ${bad.field}; got: ${text}`);
          if (bad.visitor) assert.ok(errors.some((e) => e.where.property === bad.visitor!.property), 'the error must name the property');
        });
      });
    }

    test('connects, goes online, and stops on close', async () => {
      await withHost(async (host, sink) => {
        const d = device();
        const { started, errors } = await host.apply([d]);
        assert.deepEqual(errors, []);
        assert.deepEqual(started, [d.id]);
        assert.equal(sink.states[0]?.state, 'unknown', 'the first state is unknown');
        await waitFor(() => sink.lastState(d.id) === 'online', 'the device to go online', wait);
        assert.ok(host.serves(d.id));
        await host.close();
        assert.equal(host.serves(d.id), false);
      });
    });

    test('reads every property as its type', async () => {
      await withHost(async (host, sink) => {
        const d = device();
        await host.apply([d]);
        for (const p of sim.properties) {
          const r = await waitFor(() => goodReading(sink, d.id, p.name), `a good reading of ${p.name}`, wait);
          assert.ok(TYPE_OF[p.type](r.value!), `${p.name} should read as ${p.type}, got ${String(r.value)} (${typeof r.value})`);
          if (p.expect !== undefined) assert.ok(sameAtWirePrecision(p.type, r.value, p.expect), `${p.name}: expected ${String(p.expect)}, read ${String(r.value)}`);
        }
      });
    });

    test('writes a value and reads it back', async () => {
      const writable = sim.properties.filter((p) => p.accessMode === 'ReadWrite' && p.write !== undefined);
      await withHost(async (host, sink) => {
        const d = device();
        await host.apply([d]);
        await waitFor(() => sink.lastState(d.id) === 'online', 'the device to go online', wait);
        for (const p of writable) {
          const outcome = await host.write(d.id, p.name, p.write!);
          assert.equal(outcome.ok, true, `writing ${p.name}: ${outcome.error?.message}`);
          assert.ok(sameAtWirePrecision(p.type, outcome.readBack, p.write), `${p.name}: wrote ${String(p.write)}, read back ${String(outcome.readBack)}`);
        }
        const readOnly = sim.properties.find((p) => (p.accessMode ?? 'ReadOnly') === 'ReadOnly');
        if (readOnly) {
          const refused = await host.write(d.id, readOnly.name, readOnly.expect ?? '1');
          assert.equal(refused.ok, false);
          assert.equal(refused.error?.code, ErrorCodes.READ_ONLY);
        }
      });
    });

    test('maps a failing read to quality bad with an error code', async (t) => {
      if (!sim.failing) return t.skip('the simulator declares no failing property');
      await withHost(async (host, sink) => {
        const d = device({ withFailing: true });
        await host.apply([d]);
        const name = sim.failing!.name;
        const r = await waitFor(() => sink.readings.find((x) => x.device === d.id && x.property === name && x.error?.code !== IoCodes.NOT_CONNECTED && x.quality === 'bad'), `a bad reading of ${name}`, wait);
        assert.equal(r.value, undefined);
        assert.match(r.error?.code ?? '', /^[A-Z0-9_]+$/, 'a stable upper-case code');
        assert.ok(r.error?.message, 'a message');
        for (const p of sim.properties) await waitFor(() => goodReading(sink, d.id, p.name), `${p.name} to keep reading good`, wait);
      });
    });

    test('reconnects after the simulator restarts', async () => {
      await withHost(async (host, sink) => {
        const d = device();
        await host.apply([d]);
        await waitFor(() => sink.lastState(d.id) === 'online', 'the device to go online', wait);
        const mark = sink.events.length;
        await opts.simulator.restart();
        const down = await waitFor(() => {
          const i = sink.events.findIndex((e, n) => n >= mark && e.kind === 'state' && (e.state === 'offline' || e.state === 'unhealthy'));
          return i >= 0 ? i : undefined;
        }, 'the runtime to notice the restart', wait);
        for (const p of sim.properties) {
          await waitFor(() => sink.events.slice(down).some((e) => e.kind === 'reading' && e.reading.property === p.name && e.reading.quality === 'good'), `a good reading of ${p.name} after the restart`, wait);
        }
        await waitFor(() => sink.lastState(d.id) === 'online', 'the device to come back online', wait);
      });
    });

    test('leaves no timers or sockets behind after close', async () => {
      const before = activeResources();
      await withHost(async (host, sink) => {
        const d = device({ withFailing: true });
        await host.apply([d]);
        for (const p of sim.properties) await waitFor(() => goodReading(sink, d.id, p.name), `a good reading of ${p.name}`, wait);
      });
      await new Promise((resolve) => setImmediate(resolve));
      const leaked = await waitFor(() => {
        const l = leakedResources(before, activeResources());
        return l.length === 0 ? l : undefined;
      }, 'handles opened by the driver to close', wait).catch(() => leakedResources(before, activeResources()));
      assert.deepEqual(leaked, [], `handles left open after close: ${leaked.join(', ')}`);
    });
  });
}
