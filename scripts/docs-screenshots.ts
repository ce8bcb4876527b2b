// `npm run docs:screenshots`: screenshots of the gateway dashboard (docs/dashboard.png) and of the
// cloud's fleet view (docs/fleet.png) for docs/, taken with the same browser the tests drive
// (Debian's chromium through playwright-core) on a gateway running the quick start, and on
// `edgetwin cloud` with two gateways joined. Not part of `npm test`: it writes into docs/.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../core/testing.ts';
import { browserMissing, launchChromium } from '../test/helpers/browser.ts';
import { joinGateway, startCloudCli, startLinkedGateway, type Child } from '../test/helpers/fleet-processes.ts';
import { ROOT, startGatewayProcess } from '../test/helpers/gateway-process.ts';

const missing = browserMissing();
if (missing) {
  console.error(`docs:screenshots: ${missing}`);
  process.exit(1);
}
const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-shots-'));
const gw = await startGatewayProcess({ devices: [join(ROOT, 'examples', 'quickstart')], dataDir });
const browser = await launchChromium({ width: 1280, height: 760 });
try {
  const page = await browser.context.newPage();
  await page.goto(`${gw.apiUrl}/#${encodeURIComponent('default/thermostat')}`);
  // Let the sparklines gather some points and the setpoint reconcile.
  await waitFor('the thermostat shown', () => page.evaluate(() => document.querySelectorAll('.props tr[data-property]').length >= 4), 30_000, 100);
  await page.fill('input[name="setpoint"]', '22');
  await page.click('tr[data-property="setpoint"] button[type="submit"]');
  await waitFor('setpoint applied', async () => /applied/.test(await page.innerText('tr[data-property="setpoint"] .reconcile')), 30_000, 100);
  await new Promise((r) => setTimeout(r, 15_000));
  const file = join(ROOT, 'docs', 'dashboard.png');
  await page.screenshot({ path: file });
  console.log(`wrote ${file}`);
} finally {
  await browser.close();
  await gw.stop();
  rmSync(dataDir, { recursive: true, force: true });
}

// The fleet view: a cloud with two gateways running the quick start.
const work = mkdtempSync(join(tmpdir(), 'edgetwin-shots-fleet-'));
const started: Child[] = [];
const fleetBrowser = await launchChromium({ width: 1280, height: 620 });
try {
  const stateDir = join(work, 'cloud');
  const cloud = await startCloudCli(stateDir);
  started.push(cloud);
  for (const node of ['line-1', 'line-2']) {
    await joinGateway(stateDir, cloud.ports, node, join(work, node));
    started.push(await startLinkedGateway(join(work, node), cloud.ports));
  }
  const page = await fleetBrowser.context.newPage();
  await page.goto(cloud.url);
  await waitFor('both nodes with their devices online', () => page.evaluate(() => document.querySelectorAll('.node tr[data-device] .state-online').length >= 4), 60_000, 100);
  await new Promise((r) => setTimeout(r, 3000));
  const file = join(ROOT, 'docs', 'fleet.png');
  await page.screenshot({ path: file });
  console.log(`wrote ${file}`);
} finally {
  await fleetBrowser.close();
  for (const c of started.reverse()) await c.stop();
  rmSync(work, { recursive: true, force: true });
}
