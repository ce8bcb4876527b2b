// The fleet view of `edgetwin cloud` in a real browser (Debian's chromium through playwright-core)
// against a real cloud and two real gateways joined to it (child processes from the bin). What a
// person sees is what is checked: innerText of the page, pushed live.
//   - both nodes connected, their quick-start devices listed with their states;
//   - one gateway killed (-9): its node shows disconnected; started again: connected;
//   - the cloud restarted: the page reconnects by itself and shows the fleet again;
//   - a cloud with --http-token-file: the page asks for the token, signs in, then shows the fleet.

import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { waitFor } from '../core/testing.ts';
import { browserMissing, launchChromium } from './helpers/browser.ts';
import { joinGateway, startCloudCli, startLinkedGateway, type Child } from './helpers/fleet-processes.ts';

const missing = browserMissing();
if (missing) console.log(`# skipping the fleet view browser test: ${missing}`);

const LONG = 60_000;

async function text(page: Page, selector: string): Promise<string> {
  return page.evaluate((s) => (document.querySelector(s) as HTMLElement | null)?.innerText ?? '', selector);
}

describe('fleet view in a browser', { skip: missing }, () => {
  const started: Child[] = [];
  const work = mkdtempSync(join(tmpdir(), 'edgetwin-fleet-'));
  let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;

  after(async () => {
    await browser?.close();
    for (const c of started.reverse()) await c.stop('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  });

  it('two gateways: connected with their devices; one killed shows disconnected and comes back; the page survives a cloud restart', async () => {
    const stateDir = join(work, 'cloud');
    let cloud = await startCloudCli(stateDir);
    started.push(cloud);
    const gws: Record<string, Awaited<ReturnType<typeof startLinkedGateway>>> = {};
    for (const node of ['gw-a', 'gw-b']) {
      await joinGateway(stateDir, cloud.ports, node, join(work, node));
      gws[node] = await startLinkedGateway(join(work, node), cloud.ports);
      started.push(gws[node]);
    }

    browser = await launchChromium();
    const page = await browser.context.newPage();
    await page.goto(cloud.url);
    const state = (node: string) => text(page, `.node[data-node="${node}"] .conn-state`);
    for (const node of ['gw-a', 'gw-b']) {
      await waitFor(`${node} connected`, async () => (await state(node)) === 'connected', LONG, 100);
      for (const device of ['default/thermostat', 'default/packaging-line']) {
        await waitFor(`${node}'s ${device} online`, async () => {
          const row = await text(page, `.node[data-node="${node}"] tr[data-device="${device}"]`);
          return row.includes(device) && row.includes('online');
        }, LONG, 100);
      }
    }
    assert.match(await text(page, '.node[data-node="gw-a"] .device-count'), /^2 \(2 online\)$/);
    assert.equal(await text(page, '.connected-nodes'), '2');

    // Fault: gw-b's process dies.
    await gws['gw-b']!.stop('SIGKILL');
    await waitFor('gw-b disconnected', async () => (await state('gw-b')) === 'disconnected', LONG, 100);
    assert.equal(await state('gw-a'), 'connected');
    // What the cloud knew of gw-b's devices stays listed.
    assert.match(await text(page, '.node[data-node="gw-b"]'), /default\/thermostat/);
    const back = await startLinkedGateway(join(work, 'gw-b'), cloud.ports, { api: gws['gw-b']!.api, mqtt: gws['gw-b']!.mqtt });
    started.push(back);
    await waitFor('gw-b connected again', async () => (await state('gw-b')) === 'connected', LONG, 100);

    // Fault: the cloud restarts (same state directory and ports); the same page, never reloaded, follows.
    await cloud.stop('SIGTERM');
    await waitFor('the page to see the cloud gone', async () => /reconnecting/.test(await text(page, 'header .conn')), LONG, 50);
    cloud = await startCloudCli(stateDir, cloud.ports);
    started.push(cloud);
    await waitFor('the page live again', async () => (await text(page, 'header .conn')) === 'live', LONG, 100);
    for (const node of ['gw-a', 'gw-b']) await waitFor(`${node} connected after the restart`, async () => (await state(node)) === 'connected', LONG, 100);
    assert.match(await text(page, '.node[data-node="gw-a"]'), /default\/packaging-line/);
  });

  it('with a token: the page asks for it, a wrong one is refused, the right one signs in', async () => {
    const tokenFile = join(work, 'fleet-token');
    writeFileSync(tokenFile, 'a-fleet-token-for-the-browser-test\n');
    const cloud = await startCloudCli(join(work, 'token-cloud'), undefined, ['--http-token-file', tokenFile]);
    started.push(cloud);
    browser ??= await launchChromium();
    const page = await browser.context.newPage();
    await page.goto(cloud.url);
    await waitFor('the sign-in form', async () => /Sign in/.test(await text(page, 'form.signin')), LONG, 100);
    await page.fill('form.signin input[type="password"]', 'wrong-token');
    await page.click('form.signin button[type="submit"]');
    await waitFor('the refusal', async () => /the token is wrong/.test(await text(page, 'form.signin .error')), LONG, 100);
    await page.fill('form.signin input[type="password"]', 'a-fleet-token-for-the-browser-test');
    await page.click('form.signin button[type="submit"]');
    await waitFor('the fleet after signing in', async () => /No node has joined yet/.test(await text(page, 'main')), LONG, 100);
    await waitFor('the page live', async () => (await text(page, 'header .conn')) === 'live', LONG, 100);
    await page.close();
  });
});
