// Liveness, readiness and startup probes of one running container: exec through CRI ExecSync,
// httpGet and tcpSocket against the pod's address. Each probe keeps its own period and
// thresholds as the spec gives them; results go back to the pod manager through callbacks.

import { request } from 'node:http';
import { connect } from 'node:net';
import type { Probe } from './pod.ts';
import type { RuntimeClient } from './cri/client.ts';

export type ProbeKind = 'startup' | 'liveness' | 'readiness';

export interface ProberTarget {
  containerId: string;
  containerName: string;
  /** The address probes connect to: the pod IP, or 127.0.0.1 with hostNetwork. */
  host: string;
  ports: Map<string, number>;
  probes: Partial<Record<ProbeKind, Probe>>;
}

export interface ProberEvents {
  /** Readiness or startup changed; the pod status must be recomputed. */
  changed(): void;
  /** Liveness (or startup) failed its threshold: the container must be restarted. */
  failed(kind: ProbeKind, message: string): void;
}

export async function runProbe(p: Probe, t: Pick<ProberTarget, 'containerId' | 'host' | 'ports'>, runtime: RuntimeClient): Promise<{ ok: boolean; message: string }> {
  const timeoutS = p.timeoutSeconds ?? 1;
  const port = (v: number | string) => (typeof v === 'number' ? v : (t.ports.get(v) ?? Number(v)));
  try {
    if (p.exec) {
      const r = await runtime.execSync(t.containerId, p.exec.command, timeoutS);
      return { ok: r.exitCode === 0, message: r.exitCode === 0 ? '' : `exec ${JSON.stringify(p.exec.command)} exited ${r.exitCode}: ${r.stdout.toString().slice(0, 200)}${r.stderr.toString().slice(0, 200)}`.trim() };
    }
    if (p.httpGet) {
      const g = p.httpGet;
      const host = g.host ?? t.host;
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host, port: port(g.port), path: g.path ?? '/', method: 'GET', timeout: timeoutS * 1000, headers: Object.fromEntries((g.httpHeaders ?? []).map((h) => [h.name, h.value])) }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutS}s`)));
        req.on('error', reject);
        req.end();
      });
      const ok = status >= 200 && status < 400;
      return { ok, message: ok ? '' : `HTTP probe to ${host}:${port(g.port)}${g.path ?? '/'} failed with statuscode: ${status}` };
    }
    if (p.tcpSocket) {
      const host = p.tcpSocket.host ?? t.host;
      const pt = port(p.tcpSocket.port);
      await new Promise<void>((resolve, reject) => {
        const s = connect({ host, port: pt, timeout: timeoutS * 1000 }, () => {
          s.destroy();
          resolve();
        });
        s.on('timeout', () => s.destroy(new Error(`timed out after ${timeoutS}s`)));
        s.on('error', reject);
      });
      return { ok: true, message: '' };
    }
    return { ok: false, message: 'probe has no handler' };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** Runs the probes of one container until stopped. */
export class Prober {
  /** Startup probe passed (true at once without one). */
  started: boolean;
  /** Readiness: false until the readiness probe succeeds (true once started without one). */
  ready: boolean;
  private timers = new Map<ProbeKind, NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly t: ProberTarget, private readonly runtime: RuntimeClient, private readonly events: ProberEvents) {
    this.started = !t.probes.startup;
    this.ready = !t.probes.readiness && this.started;
    if (t.probes.startup) this.loop('startup', t.probes.startup);
    else this.startAfterStartup();
  }

  private startAfterStartup(): void {
    if (this.t.probes.liveness) this.loop('liveness', this.t.probes.liveness);
    if (this.t.probes.readiness) this.loop('readiness', this.t.probes.readiness);
    else if (!this.ready) {
      this.ready = true;
      this.events.changed();
    }
  }

  private loop(kind: ProbeKind, p: Probe): void {
    const period = Math.max(1, p.periodSeconds ?? 10) * 1000;
    const failureThreshold = Math.max(1, p.failureThreshold ?? 3);
    const successThreshold = kind === 'readiness' ? Math.max(1, p.successThreshold ?? 1) : 1;
    let fails = 0;
    let oks = 0;
    const once = async () => {
      if (this.stopped) return;
      const r = await runProbe(p, this.t, this.runtime);
      if (this.stopped) return;
      if (r.ok) {
        fails = 0;
        oks++;
        if (kind === 'startup') {
          this.started = true;
          this.events.changed();
          this.startAfterStartup();
          return; // the startup probe stops once it succeeded
        }
        if (kind === 'readiness' && !this.ready && oks >= successThreshold) {
          this.ready = true;
          this.events.changed();
        }
      } else {
        oks = 0;
        fails++;
        if (kind === 'readiness' && this.ready && fails >= failureThreshold) {
          this.ready = false;
          this.events.changed();
        }
        if ((kind === 'liveness' || kind === 'startup') && fails >= failureThreshold) {
          this.events.failed(kind, `${kind === 'liveness' ? 'Liveness' : 'Startup'} probe failed: ${r.message}`);
          return; // the container is being restarted; a new prober comes with the new one
        }
      }
      this.timers.set(kind, setTimeout(once, period));
    };
    this.timers.set(kind, setTimeout(once, Math.max(0, p.initialDelaySeconds ?? 0) * 1000));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
  }
}
