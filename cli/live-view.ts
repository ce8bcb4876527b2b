// What `edgetwin run` shows: on a terminal, a live table of devices and values redrawn in
// place; otherwise log lines, so a service manager's journal reads like a history. The twin itself
// logs device states, desired values and reconcile outcomes at info in both modes; here each
// reported value is a debug line (2,000 devices logged 47 MB in 80 s when it was info).

import type { Logger } from '../core/log.ts';
import { formatValue, type PropertyValue } from '../core/values.ts';
import type { DeviceTwin, TwinChange, TwinPropertyView } from '../twin/twin.ts';
import { renderTable } from './table.ts';

export interface LiveViewOptions {
  live: boolean;
  /** Shown under the table: where the API, MQTT and the log file are. */
  footer?: () => string[];
  out?: NodeJS.WriteStream;
}

export function startLiveView(twin: DeviceTwin, log: Logger, opts: LiveViewOptions): () => void {
  if (!opts.live) return logChanges(twin, log);
  const out = opts.out ?? process.stdout;
  const draw = () => {
    out.write('\x1b[H\x1b[2J' + renderLiveTable(twin) + '\n' + (opts.footer?.() ?? []).join('\n') + '\n');
  };
  draw();
  const timer = setInterval(draw, 500);
  return () => clearInterval(timer);
}

export function renderLiveTable(twin: DeviceTwin, now = Date.now()): string {
  const rows: string[][] = [];
  for (const summary of twin.list()) {
    const view = twin.get(summary.device);
    if (!view) continue;
    let first = true;
    for (const p of Object.values(view.properties)) {
      rows.push([
        first ? view.device : '',
        first ? view.state : '',
        p.name,
        text(p, p.reported?.value),
        p.reported?.quality ?? '',
        p.desired ? text(p, p.desired.value) : '',
        p.reconcile.state === 'none' ? '' : p.reconcile.state + (p.reconcile.reason ? ` (${p.reconcile.reason})` : ''),
        p.reported ? age(now - p.reported.time) : '',
      ]);
      first = false;
    }
  }
  return renderTable(['DEVICE', 'STATE', 'PROPERTY', 'REPORTED', 'QUALITY', 'DESIRED', 'RECONCILE', 'AGE'], rows);
}

function text(p: TwinPropertyView, v: PropertyValue | undefined): string {
  if (v === undefined) return '';
  const s = formatValue(p.type, v);
  return s.length > 32 ? s.slice(0, 31) + '…' : s;
}

function age(ms: number): string {
  if (ms < 1000) return 'now';
  if (ms < 60_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

function logChanges(twin: DeviceTwin, log: Logger): () => void {
  const listener = (e: TwinChange) => {
    switch (e.kind) {
      case 'reported':
        if (!log.isLevelEnabled('debug')) return;
        for (const u of e.updates) {
          log.debug({ device: e.device, property: u.property, value: u.text, quality: u.quality, error: u.error?.message }, 'reported');
        }
        break;
      case 'reconcile':
        // Outcomes (applied, failed, drifted) are the twin's own info lines; each step is detail.
        log.debug({ device: e.device, property: e.property, state: e.state, attempts: e.attempts, reason: e.reason }, 'reconcile');
        break;
      case 'membership':
        log.info({ added: e.added.map((v) => v.device), removed: e.removed.map((v) => v.device) }, 'membership');
        break;
      case 'desired':
      case 'state':
        // Logged at info by the twin, in live mode too.
        break;
    }
  };
  twin.on('change', listener);
  return () => twin.off('change', listener);
}
