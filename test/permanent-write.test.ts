// A driver can say a write refusal is permanent (permanentError from edgetwin/sdk): the twin shows
// `failed` with the device's reason and stops retrying until the desired value changes, while a
// transient failure beside it keeps being retried with backoff.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../core/log.ts';
import { codedError, defineDriver, MapperHost, permanentError, SDK_VERSION } from '../mappers/sdk/index.ts';
import { makeDevice, waitFor } from '../mappers/sdk/testing.ts';
import { TwinStore } from '../twin/store.ts';
import { tempDir } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';

test('a permanent write refusal is failed with its reason and not retried until the desired value changes', async () => {
  const held = new Map<string, number>([['mode', 1], ['level', 0]]);
  const writes: string[] = [];
  let levelFailures = 3;
  const driver = defineDriver<Record<string, never>, { key: string }>({
    name: 'refuser',
    sdkVersion: `^${SDK_VERSION}`,
    protocolSchema: { type: 'object' },
    visitorSchema: { type: 'object', required: ['key'], properties: { key: { type: 'string' } } },
    async connect() {
      return {
        async read(request) { return request.properties.map((p) => ({ property: p.name, value: held.get(p.visitor.key)! })); },
        async write(p, { value }) {
          writes.push(`${p.name}=${String(value)}`);
          if (p.name === 'mode' && value !== 2) throw permanentError('ERANGE', `mode ${String(value)} is not supported by this instrument (it accepts 1 or 2)`);
          if (p.name === 'level' && levelFailures-- > 0) throw codedError('EBUSY', 'the instrument is busy');
          held.set(p.visitor.key, Number(value));
        },
        async close() {},
      };
    },
  });
  const tmp = tempDir();
  const store = TwinStore.open(tmp.dir);
  const twin = new DeviceTwin({ store, log: silentLogger, nodeName: 'n1', retry: { baseMs: 10, maxMs: 50 } });
  const host = new MapperHost({ sink: twin, drivers: [{ name: 'refuser', load: async () => driver }], log: silentLogger, dataDir: tmp.dir });
  twin.setWriter(host);
  try {
    const d = makeDevice({
      name: 'meter', protocol: 'refuser',
      properties: [
        { name: 'mode', type: 'int', accessMode: 'ReadWrite', visitor: { key: 'mode' }, collectCycle: 60_000 },
        { name: 'level', type: 'int', accessMode: 'ReadWrite', visitor: { key: 'level' }, collectCycle: 60_000 },
      ],
    });
    twin.setDevices([d]);
    assert.deepEqual((await host.apply([d])).errors, []);
    await waitFor(() => twin.get(d.id)?.state === 'online', 'the device to go online');
    const prop = (name: string) => twin.get(d.id)!.properties[name]!;

    twin.setDesired(d.id, 'mode', 7, 'api');
    twin.setDesired(d.id, 'level', 5, 'api');
    await waitFor(() => prop('mode').reconcile.state === 'failed', 'mode to fail');
    assert.match(prop('mode').reconcile.reason ?? '', /ERANGE: .*mode 7 is not supported by this instrument.*permanent: not retried until the desired value changes/);
    // level fails three times and is retried each time; mode, refused for good, is not.
    await waitFor(() => prop('level').reconcile.state === 'applied', 'level to apply after its retries');
    assert.equal(writes.filter((w) => w.startsWith('level')).length, 4);
    assert.deepEqual(writes.filter((w) => w.startsWith('mode')), ['mode=7']);
    // Coming back online retries what failed, but not a permanent refusal.
    twin.state(d.id, 'offline', 'test');
    twin.state(d.id, 'online');
    twin.setDesired(d.id, 'level', 6, 'api');
    await waitFor(() => prop('level').reconcile.state === 'applied' && prop('level').desired?.value === 6, 'level 6 to apply');
    assert.deepEqual(writes.filter((w) => w.startsWith('mode')), ['mode=7']);
    assert.equal(prop('mode').reconcile.state, 'failed');

    twin.setDesired(d.id, 'mode', 2, 'api');
    await waitFor(() => prop('mode').reconcile.state === 'applied', 'a new desired mode to apply');
    assert.deepEqual(writes.filter((w) => w.startsWith('mode')), ['mode=7', 'mode=2']);
  } finally {
    await host.close();
    await twin.close();
    store.close();
    tmp.remove();
  }
});
