// Test helpers for the twin: resolved devices without YAML, and a PropertyWriter double that
// records every write and answers with scripted outcomes.

import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DeviceId, DeviceSpecResolved, PropertySpec } from '../core/device.ts';
import type { PropertyWriter, WriteOutcome } from '../core/reading.ts';
import type { PropertyValue } from '../core/values.ts';
import mqtt from 'mqtt';
import { freePort, waitFor } from '../core/testing.ts';

export { freePort, waitFor };

export function property(name: string, over: Partial<PropertySpec> = {}): PropertySpec {
  return {
    name,
    type: 'int',
    accessMode: 'ReadWrite',
    collectCycle: 1000,
    reportCycle: 0,
    reportToCloud: false,
    reconcile: 'once',
    visitor: {},
    ...over,
  };
}

export function device(name: string, properties: PropertySpec[], over: Partial<DeviceSpecResolved> = {}): DeviceSpecResolved {
  return {
    id: `${over.namespace ?? 'default'}/${name}`,
    namespace: 'default',
    name,
    model: 'test-model',
    protocol: 'virtual',
    protocolConfig: {},
    properties,
    methods: [],
    fingerprint: name,
    ...over,
  };
}

export interface WriteCall {
  device: DeviceId;
  property: string;
  value: PropertyValue;
}

/** Holds what is written (read-back = written value) unless `next` scripts another outcome. */
export class RecordingWriter implements PropertyWriter {
  readonly calls: WriteCall[] = [];
  readonly served = new Set<DeviceId>();
  private readonly scripted: WriteOutcome[] = [];
  /** Outcome used when nothing is scripted; undefined means: succeed and read back the value. */
  fallback: WriteOutcome | undefined;

  serves(device: DeviceId): boolean {
    return this.served.has(device);
  }

  /** Queues outcomes for the next writes, in order. */
  next(...outcomes: WriteOutcome[]): this {
    this.scripted.push(...outcomes);
    return this;
  }

  async write(device: DeviceId, property: string, value: PropertyValue): Promise<WriteOutcome> {
    this.calls.push({ device, property, value });
    await new Promise((r) => setImmediate(r));
    return this.scripted.shift() ?? this.fallback ?? { ok: true, readBack: value };
  }
}

export function tempDir(prefix = 'edgetwin-twin-'): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}


/** Starts /usr/sbin/mosquitto on 127.0.0.1 from a config in a temp dir; stop() kills only that process. */
export async function startMosquitto(port?: number, config = 'allow_anonymous true'): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const p = port ?? (await freePort());
  const tmp = tempDir('edgetwin-mosquitto-');
  const conf = join(tmp.dir, 'mosquitto.conf');
  writeFileSync(conf, `listener ${p} 127.0.0.1\n${config}\n`);
  const child = spawn('/usr/sbin/mosquitto', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 10_000;
  while (!(await canConnect(p))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill();
      tmp.remove();
      throw new Error(`mosquitto did not start on port ${p}: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    url: `mqtt://127.0.0.1:${p}`,
    port: p,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      tmp.remove();
    },
  };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

export interface Received {
  topic: string;
  json: Record<string, any>;
}

/** An MQTT client acting as a KubeEdge application: records every message on the topics it watches. */
export class AppClient {
  readonly messages: Received[] = [];
  private constructor(readonly client: mqtt.MqttClient) {
    client.on('message', (topic, payload) => {
      let json: Record<string, any>;
      try {
        json = JSON.parse(payload.toString());
      } catch {
        json = { raw: payload.toString() };
      }
      this.messages.push({ topic, json });
    });
  }

  static async connect(url: string, topics: string[] = ['$hw/events/#', '$ke/events/#'], options: mqtt.IClientOptions = {}): Promise<AppClient> {
    const client = await mqtt.connectAsync(url, { reconnectPeriod: 200, ...options });
    await client.subscribeAsync(topics, { qos: 1 });
    return new AppClient(client);
  }

  publish(topic: string, payload: unknown): void {
    this.client.publish(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
  }

  /** Waits for the first message on `topic` (received after index `from`) that satisfies `match`. */
  async next(topic: string, match: (json: Record<string, any>) => boolean = () => true, from = 0): Promise<Record<string, any>> {
    const found = await waitFor(`a message on ${topic}`, () => this.messages.slice(from).find((m) => m.topic === topic && match(m.json)), 10_000);
    return found.json;
  }

  on(topic: string): Record<string, any>[] {
    return this.messages.filter((m) => m.topic === topic).map((m) => m.json);
  }

  close(): Promise<void> {
    return this.client.endAsync(true);
  }
}
