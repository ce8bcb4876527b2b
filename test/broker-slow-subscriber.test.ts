// Defect 1 of issue 9: a subscriber that stops reading its socket froze the embedded broker for
// everyone within half a minute. Here a real mosquitto_sub is stopped with SIGSTOP while twin
// updates arrive at 100/s through a running gateway: every request must still get its result on
// another subscriber, and the stopped client must be disconnected and counted.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { waitFor } from '../core/testing.ts';
import { startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';
import { configFile, labellerDevices, labelUpdate, metric, mosquittoSub, type Subscriber } from './helpers/broker.ts';

const TOPIC = '$hw/events/device/default/labeller/twin/update';

describe('a stalled subscriber does not hurt the other clients of the embedded broker', () => {
  let gw: GatewayProcess;
  const subs: Subscriber[] = [];
  let publisher: mqtt.MqttClient | undefined;
  before(async () => {
    // A small queue bound, so the test does not wait for 16 MB (the default) to pile up.
    const config = configFile('broker:\n  maxQueueBytes: 1048576\n');
    gw = await startGatewayProcess({ devices: [labellerDevices()], extra: ['--config', config] });
  });
  after(async () => {
    await publisher?.endAsync(true);
    for (const s of subs) await s.stop();
    await gw?.stop();
  });

  it('keeps answering every twin update while one subscriber is stopped, then disconnects that subscriber', async () => {
    const port = String(gw.mqttPort);
    const fast = mosquittoSub(['-h', '127.0.0.1', '-p', port, '-i', 'fast', '-t', `${TOPIC}/result`]);
    const slow = mosquittoSub(['-h', '127.0.0.1', '-p', port, '-i', 'slowpoke', '-t', '$hw/#', '-t', '$ke/#']);
    subs.push(fast, slow);
    publisher = await mqtt.connectAsync(`mqtt://127.0.0.1:${port}`, { clientId: 'publisher' });

    const answered = (sub: Subscriber, id: string) => sub.lines.some((l) => l.includes(`"event_id":"${id}"`));
    await waitFor('both subscribers to receive a first result', async () => {
      await publisher!.publishAsync(TOPIC, labelUpdate('warmup'));
      return answered(fast, 'warmup') && answered(slow, 'warmup');
    }, 30_000, 500);

    slow.child.kill('SIGSTOP');
    let sent = 0;
    const timer = setInterval(() => {
      sent++;
      publisher!.publish(TOPIC, labelUpdate(`e${sent}`));
    }, 10);
    try {
      await waitFor('the stopped subscriber to be disconnected', async () => (await metric(gw.apiUrl, 'edgetwin_broker_slow_clients_disconnected_total')) >= 1, 120_000, 250);
      // Two more seconds of traffic after the disconnect: the broker keeps serving.
      const mark = sent + 200;
      await waitFor(`the result of request e${mark}`, () => answered(fast, `e${mark}`), 60_000, 50);
    } finally {
      clearInterval(timer);
    }
    const ids = new Set(fast.lines.map((l) => /"event_id":"(e\d+)"/.exec(l)?.[1]).filter(Boolean));
    await waitFor(`results for all ${sent} requests`, () => {
      for (const l of fast.lines.slice(-50)) {
        const id = /"event_id":"(e\d+)"/.exec(l)?.[1];
        if (id) ids.add(id);
      }
      return ids.size === sent || undefined;
    }, 30_000, 100).catch(() => {
      const missing = Array.from({ length: sent }, (_, i) => `e${i + 1}`).filter((id) => !ids.has(id));
      assert.fail(`${missing.length} of ${sent} requests got no result on the fast subscriber, first: ${missing.slice(0, 5).join(', ')}`);
    });
    assert.ok((await metric(gw.apiUrl, 'edgetwin_broker_dropped_messages_total', 'reason="slow_client"')) >= 1, 'the dropped messages are counted');
    assert.match(gw.log(), /"client":"slowpoke".*slow mqtt client disconnected/);
  });
});
