// examples/grafana: every metric the Grafana dashboards query exists in /metrics of a running
// process: the gateway dashboard against a gateway (the quick start), the cloud dashboard against
// `edgetwin cloud`, so a dashboard never shows "no data" for a misspelt name.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCloudCli } from './helpers/fleet-processes.ts';
import { ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

/** Every PromQL expression of the dashboard: panel targets and template variable queries. */
function expressions(dashboard: { panels: { targets?: { expr: string }[] }[]; templating: { list: { query?: unknown }[] } }): string[] {
  const out = dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr));
  for (const v of dashboard.templating.list) {
    const q = typeof v.query === 'string' ? v.query : (v.query as { query?: string } | undefined)?.query;
    if (q && /label_values\(/.test(q)) out.push(q);
  }
  return out;
}

const FUNCTIONS = new Set(['sum', 'max', 'by', 'rate', 'increase', 'histogram_quantile', 'label_values', 'time', 'le', 'instance']);

/** The metric names an expression reads: identifiers followed by `{`, `[` or `,` that are not functions or labels. */
function metricNames(expr: string): string[] {
  const noLabels = expr.replace(/\{[^}]*\}/g, '{}').replace(/by \([^)]*\)/g, '');
  return [...noLabels.matchAll(/\b([a-z_][a-z0-9_]*)\s*(?=\{|\[|,|\))/g)].map((m) => m[1]!).filter((n) => !FUNCTIONS.has(n));
}

/** Fails unless every metric the dashboard file queries is in `url`'s /metrics within 30 s. */
async function assertExported(file: string, url: string, atLeast: number): Promise<void> {
  const dashboard = JSON.parse(readFileSync(join(ROOT, 'examples', 'grafana', file), 'utf8'));
  const names = new Set(expressions(dashboard).flatMap(metricNames));
  assert.ok(names.size >= atLeast, `the dashboard reads many metrics (${[...names].join(', ')})`);
  // Histograms and counters appear once a value was observed: wait until the devices have polled.
  const exported = new Set<string>();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const text = await (await fetch(url)).text();
    for (const line of text.split('\n')) {
      const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{| )/.exec(line);
      if (m) exported.add(m[1]!);
      // A labelled counter nothing has counted yet is declared (its series appear with the first count).
      const t = /^# TYPE (\S+) (\w+)/.exec(line);
      if (t) for (const suffix of t[2] === 'histogram' ? ['_bucket', '_sum', '_count'] : ['']) exported.add(t[1]! + suffix);
    }
    const missing = [...names].filter((n) => !exported.has(n));
    if (missing.length === 0) return;
    if (Date.now() > deadline) assert.fail(`${file} queries metrics ${url} does not export: ${missing.join(', ')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('examples/grafana dashboard', () => {
  let gw: GatewayProcess;
  before(async () => {
    gw = await startGatewayProcess({ devices: [join(ROOT, 'examples', 'quickstart')] });
  });
  after(async () => {
    await gw?.stop();
  });

  it('queries only metrics the gateway exports', async () => {
    await assertExported('edgetwin-gateway.json', `${gw.apiUrl}/metrics`, 20);
  });
});

describe('examples/grafana cloud dashboard', () => {
  it('queries only metrics `edgetwin cloud` exports', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'edgetwin-grafana-cloud-'));
    const cloud = await startCloudCli(dir);
    try {
      await assertExported('edgetwin-cloud.json', `${cloud.url}/metrics`, 12);
    } finally {
      await cloud.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
