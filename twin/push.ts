// A property's pushMethod: each committed reading also goes to an MQTT broker topic or an HTTP
// endpoint. Delivery is best effort and never blocks the twin: an unreachable target drops the
// reading, counts it and logs (at most once per target every 10 s, so a dead endpoint cannot
// flood the log).
//
// Payloads follow KubeEdge's mapper-framework publishers: HTTP posts the form body
// `<property>=<value>&time=<YYYY-MM-DD hh:mm:ss>`; MQTT carries its DataModel as JSON
// (deviceName, propertyName, namespace, value, type, timeStamp) plus the reading's quality.

import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import type { DeviceSpecResolved, PropertySpec } from '../core/device.ts';
import type { Logger } from '../core/log.ts';
import { redactText, redactUrl } from '../core/redact.ts';
import { goTime } from './kubeedge.ts';
import { counter, type Registry } from './metrics.ts';
import type { ReportedUpdate } from './types.ts';

const MAX_HTTP_IN_FLIGHT = 32;
const LOG_EVERY_MS = 10_000;

type Result = 'sent' | 'failed' | 'dropped';

export class PushForwarder {
  private readonly log: Logger;
  /** undefined while mqtt.js loads: it is imported only when a property pushes to MQTT. */
  private readonly clients = new Map<string, MqttClient | undefined>();
  private readonly inFlight = new Map<string, number>();
  private readonly lastLog = new Map<string, number>();
  private readonly total;

  constructor(opts: { log: Logger; registry: Registry }) {
    this.log = opts.log;
    this.total = counter(opts.registry, 'edgetwin_push_total', 'Readings forwarded by a pushMethod, by method and result', ['method', 'result']);
  }

  push(device: DeviceSpecResolved, spec: PropertySpec, u: ReportedUpdate): void {
    const pm = spec.pushMethod;
    if (!pm || u.text === null) return;
    if (pm.mqtt) this.mqtt(device, spec, u, pm.mqtt);
    if (pm.http) this.http(device, spec, u, pm.http);
  }

  async close(): Promise<void> {
    const clients = [...this.clients.values()];
    this.clients.clear();
    await Promise.all(clients.map((c) => c?.endAsync(true).catch(() => undefined)));
  }

  private mqtt(device: DeviceSpecResolved, spec: PropertySpec, u: ReportedUpdate, cfg: NonNullable<NonNullable<PropertySpec['pushMethod']>['mqtt']>): void {
    const client = this.client(cfg.address);
    if (!client?.connected) {
      this.count('mqtt', 'dropped', cfg.address, `pushMethod mqtt: broker ${cfg.address} not connected, reading dropped`, device, spec);
      return;
    }
    const payload = JSON.stringify({
      deviceName: device.name,
      propertyName: spec.name,
      namespace: device.namespace,
      value: u.text,
      type: u.type,
      timeStamp: u.time,
      quality: u.quality,
    });
    const qos = cfg.qos === 1 || cfg.qos === 2 ? cfg.qos : 0;
    client.publish(cfg.topic, payload, { qos, retain: cfg.retained === true }, (err) => {
      if (err) this.count('mqtt', 'failed', cfg.address, `pushMethod mqtt: publish to ${cfg.address} topic ${cfg.topic} failed: ${err.message}`, device, spec);
      else this.total.inc({ method: 'mqtt', result: 'sent' });
    });
  }

  private client(address: string): MqttClient | undefined {
    if (this.clients.has(address)) return this.clients.get(address);
    this.clients.set(address, undefined);
    import('mqtt').then(
      ({ default: mqtt }) => {
        if (!this.clients.has(address)) return; // closed while loading
        const c = mqtt.connect(address, {
          clientId: `edgetwin-push-${randomBytes(4).toString('hex')}`,
          reconnectPeriod: 2000,
          connectTimeout: 5000,
          queueQoSZero: false,
        });
        c.on('error', (err) => this.warn(address, `pushMethod mqtt: broker ${address}: ${err.message}`));
        this.clients.set(address, c);
      },
      (err: Error) => this.warn(address, `pushMethod mqtt: cannot load the MQTT client: ${err.message}`),
    );
    return undefined;
  }

  private http(device: DeviceSpecResolved, spec: PropertySpec, u: ReportedUpdate, cfg: NonNullable<NonNullable<PropertySpec['pushMethod']>['http']>): void {
    const host = /^https?:\/\//.test(cfg.hostName) ? cfg.hostName : `http://${cfg.hostName}`;
    const path = cfg.requestPath.startsWith('/') ? cfg.requestPath : `/${cfg.requestPath}`;
    const url = `${host}:${cfg.port}${path}`;
    const busy = this.inFlight.get(url) ?? 0;
    if (busy >= MAX_HTTP_IN_FLIGHT) {
      this.count('http', 'dropped', url, `pushMethod http: ${url} has ${busy} requests pending, reading dropped`, device, spec);
      return;
    }
    this.inFlight.set(url, busy + 1);
    const body = new URLSearchParams([[spec.name, u.text ?? ''], ['time', goTime(u.time)]]).toString();
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
      signal: AbortSignal.timeout(cfg.timeout && cfg.timeout > 0 ? cfg.timeout : 5000),
    })
      .then(async (res) => {
        await res.arrayBuffer().catch(() => undefined);
        if (res.ok) this.total.inc({ method: 'http', result: 'sent' });
        else this.count('http', 'failed', url, `pushMethod http: POST ${url} answered ${res.status}`, device, spec);
      })
      .catch((err: Error) => this.count('http', 'failed', url, `pushMethod http: POST ${url} failed: ${err.message}`, device, spec))
      .finally(() => this.inFlight.set(url, (this.inFlight.get(url) ?? 1) - 1));
  }

  private count(method: 'mqtt' | 'http', result: Result, target: string, message: string, device: DeviceSpecResolved, spec: PropertySpec): void {
    this.total.inc({ method, result });
    this.warn(target, message, { device: device.id, property: spec.name });
  }

  private warn(target: string, message: string, where: Record<string, string> = {}): void {
    const now = Date.now();
    if (now - (this.lastLog.get(target) ?? 0) < LOG_EVERY_MS) return;
    this.lastLog.set(target, now);
    // A pushMethod address from a Device YAML may carry credentials (tcp://user:pass@broker).
    this.log.warn({ target: redactUrl(target), ...where }, redactText(message));
  }
}
