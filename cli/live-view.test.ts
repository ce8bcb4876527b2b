// What `npm start` shows on a terminal: one row per property with its reported value, quality,
// desired value and reconcile state; without a terminal, log lines: reported values at debug only.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../core/log.ts';
import { TwinStore } from '../twin/store.ts';
import { device, property, tempDir } from '../twin/testing.ts';
import { DeviceTwin } from '../twin/twin.ts';
import { renderLiveTable, startLiveView } from './live-view.ts';

function twinWithThermostat() {
  const tmp = tempDir();
  const store = TwinStore.open(tmp.dir);
  const twin = new DeviceTwin({ store, log: createLogger({ level: 'silent' }), nodeName: 'n1' });
  twin.setDevices([device('thermostat', [property('temperature', { type: 'float', accessMode: 'ReadOnly' }), property('setpoint', { type: 'float' })])]);
  return {
    twin,
    async close() {
      await twin.close();
      store.close();
      tmp.remove();
    },
  };
}

describe('live view', () => {
  it('renders a row per property with value, quality, desired and reconcile state', async () => {
    const t = twinWithThermostat();
    try {
      t.twin.state('default/thermostat', 'online');
      t.twin.report([{ device: 'default/thermostat', property: 'temperature', value: 21.25, time: Date.now(), quality: 'good' }]);
      t.twin.setDesired('default/thermostat', 'setpoint', 22.5, 'api');
      await t.twin.flush();
      const table = renderLiveTable(t.twin);
      assert.match(table, /^DEVICE\s+STATE\s+PROPERTY\s+REPORTED\s+QUALITY\s+DESIRED\s+RECONCILE\s+AGE/);
      assert.match(table, /default\/thermostat\s+online\s+temperature\s+21\.25\s+good\s+now/);
      assert.match(table, /setpoint\s+22\.5\s+pending/);
    } finally {
      await t.close();
    }
  });

  const capture = (level: string) => {
    const lines: { msg: string; level: number; property?: string; value?: string }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        done();
      },
    });
    return { lines, log: createLogger({ level, destination: sink }) };
  };

  for (const level of ['debug', 'info'] as const) {
    it(`without a terminal, reported values are logged at debug only (level ${level})`, async () => {
      const t = twinWithThermostat();
      const { lines, log } = capture(level);
      const stop = startLiveView(t.twin, log, { live: false });
      try {
        t.twin.report([{ device: 'default/thermostat', property: 'temperature', value: 19.5, time: Date.now(), quality: 'good' }]);
        await t.twin.flush();
        await new Promise((r) => setImmediate(r));
        const reported = lines.filter((l) => l.msg === 'reported');
        if (level === 'debug') {
          assert.deepEqual(reported.map((l) => [l.property, l.value, l.level]), [['temperature', '19.5', 20]]);
        } else {
          assert.deepEqual(reported, [], 'no per-reading line at info');
        }
      } finally {
        stop();
        await t.close();
      }
    });
  }
});
