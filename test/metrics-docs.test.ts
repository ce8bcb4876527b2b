// docs/metrics.md cannot go stale: a running gateway linked to a running `edgetwin cloud` (both
// from the bin) export no `edgetwin_*` metric the page does not list, and the page lists no metric
// the sources do not define.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { joinGateway, startCloudCli, startLinkedGateway, type Child } from './helpers/fleet-processes.ts';
import { ROOT } from './helpers/gateway-process.ts';

const DOC = readFileSync(join(ROOT, 'docs', 'metrics.md'), 'utf8');

/** The `edgetwin_*` metric names a /metrics text declares (`# TYPE` lines: declared even before a first count). */
async function declared(url: string): Promise<string[]> {
  const text = await (await fetch(url)).text();
  return [...text.matchAll(/^# TYPE (edgetwin_\w+) /gm)].map((m) => m[1]!);
}

function sources(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, e.name);
    if (e.isDirectory()) out += sources(path);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out += readFileSync(path, 'utf8');
  }
  return out;
}

describe('docs/metrics.md', () => {
  const started: Child[] = [];
  const work = mkdtempSync(join(tmpdir(), 'edgetwin-metrics-docs-'));
  after(async () => {
    for (const c of started.reverse()) await c.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('lists every edgetwin_* metric a linked gateway and the cloud export', async () => {
    const cloud = await startCloudCli(join(work, 'cloud'));
    started.push(cloud);
    await joinGateway(join(work, 'cloud'), cloud.ports, 'gw-m', join(work, 'gw-m'));
    const gw = await startLinkedGateway(join(work, 'gw-m'), cloud.ports);
    started.push(gw);
    const gateway = await declared(`http://127.0.0.1:${gw.api}/metrics`);
    const cloudNames = await declared(`${cloud.url}/metrics`);
    assert.ok(gateway.some((n) => n.startsWith('edgetwin_edgehub_')), 'the gateway is linked: its edgehub metrics are there');
    assert.ok(cloudNames.includes('edgetwin_cloudhub_connected_nodes'));
    const missing = [...new Set([...gateway, ...cloudNames])].filter((n) => !DOC.includes(`\`${n}\``));
    assert.deepEqual(missing, [], `docs/metrics.md does not list ${missing.join(', ')}`);
  });

  it('lists no metric the sources do not define', () => {
    const code = ['core', 'twin', 'hub', 'mappers', 'cli'].map((d) => sources(join(ROOT, d))).join('\n');
    const documented = [...new Set([...DOC.matchAll(/^\| `(edgetwin_\w+)`/gm)].map((m) => m[1]!))];
    assert.ok(documented.length >= 40, `the page lists the metrics (${documented.length})`);
    const gone = documented.filter((n) => !code.includes(`'${n}'`));
    assert.deepEqual(gone, [], `docs/metrics.md lists metrics no source defines: ${gone.join(', ')}`);
  });
});
