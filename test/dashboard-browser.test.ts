// The gateway dashboard in a real browser (Debian's chromium through playwright-core), against a
// real gateway running the quick start plus a Modbus TCP PLC the test serves itself (so it can
// pull its plug). What a person sees is what is checked: innerText of the page, live data only.

import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { freePort, waitFor } from '../core/testing.ts';
import { startModbusSerialServer } from '../mappers/modbus/testing/peers.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';
import { browserMissing, launchChromium } from './helpers/browser.ts';
import { ROOT, startGatewayProcess, type GatewayProcess } from './helpers/gateway-process.ts';

const missing = browserMissing();
if (missing) console.log(`# skipping the dashboard browser tests: ${missing}`);

const LONG = 60_000;

function pressYaml(port: number): string {
  return `apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: press-model, namespace: default }
spec:
  protocol: modbus
  properties:
    - { name: force, type: INT, accessMode: ReadOnly, unit: kN }
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: press, namespace: default }
spec:
  deviceModelRef: { name: press-model }
  protocol:
    protocolName: modbus
    configData: { communicateMode: TCP, ip: 127.0.0.1, port: "${port}", slaveID: 1, timeout: 500 }
  properties:
    - name: force
      collectCycle: 200
      visitors: { protocolName: modbus, configData: { register: HoldingRegister, offset: 0, limit: 1, dataType: int16 } }
`;
}

/** The innerText of the list row of a device, or '' while it is not shown. */
async function rowText(page: Page, device: string): Promise<string> {
  return page.evaluate((d) => (document.querySelector(`.device-row[data-device="${d}"]`) as HTMLElement | null)?.innerText ?? '', device);
}

async function cellText(page: Page, property: string, cell: string): Promise<string> {
  return page.evaluate(([p, c]) => (document.querySelector(`.props tr[data-property="${p}"] .${c}`) as HTMLElement | null)?.innerText ?? '', [property, cell] as const);
}

describe('dashboard in a browser', { skip: missing }, () => {
  let gw: GatewayProcess;
  let dir: string;
  let plc: Awaited<ReturnType<typeof startModbusSerialServer>>;
  let plcPort: number;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let page: Page;
  const image = { 1: { hr: { 0: 120 } } };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-dash-'));
    const devices = join(dir, 'devices');
    cpSync(join(ROOT, 'examples', 'quickstart'), devices, { recursive: true });
    plcPort = await freePort();
    plc = await startModbusSerialServer(image, plcPort);
    writeFileSync(join(devices, 'press.yaml'), pressYaml(plcPort));
    gw = await startGatewayProcess({ devices: [devices], dataDir: join(dir, 'data') });
    browser = await launchChromium();
    page = await browser.context.newPage();
    await page.goto(gw.apiUrl + '/');
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await plc?.stop().catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('shows both quick-start devices online, with values that change', async () => {
    for (const d of ['default/packaging-line', 'default/thermostat']) {
      await waitFor(`${d} online in the list`, async () => /online/.test(await rowText(page, d)), LONG, 100);
      assert.match(await rowText(page, d), /virtual/, 'the protocol is shown');
    }
    await page.click('.device-row[data-device="default/packaging-line"]');
    const first = await waitFor('a packages value', async () => (await cellText(page, 'packages', 'value')).trim() || undefined, LONG, 100);
    await waitFor('the packages value to change on the page', async () => (await cellText(page, 'packages', 'value')).trim() !== first, LONG, 100);
    await page.click('.device-row[data-device="default/thermostat"]');
    const t0 = await waitFor('a temperature value', async () => (await cellText(page, 'temperature', 'value')).trim() || undefined, LONG, 100);
    assert.match(t0, /degC/, 'the unit is shown beside the value');
    await waitFor('the temperature to change on the page', async () => (await cellText(page, 'temperature', 'value')).trim() !== t0, LONG, 200);
    assert.equal((await cellText(page, 'temperature', 'quality')).trim(), 'good');
    await waitFor('a sparkline of the temperature', () => page.evaluate(() => document.querySelector('tr[data-property="temperature"] .spark canvas') !== null), LONG, 100);
  });

  it('sets the thermostat setpoint in the form and shows it applied', async () => {
    await page.click('.device-row[data-device="default/thermostat"]');
    await page.fill('input[name="setpoint"]', '22.5');
    await page.click('tr[data-property="setpoint"] button[type="submit"]');
    // The YAML's own setpoint (21.5) is applied already: wait for the new desired value, then its state.
    await waitFor('desired 22.5 applied', async () => (await cellText(page, 'setpoint', 'desired')).trim() === '22.5' && /applied/.test(await cellText(page, 'setpoint', 'reconcile')), LONG, 100);
    await waitFor('the read-back 22.5', async () => (await cellText(page, 'setpoint', 'value')).startsWith('22.5'), LONG, 100);
  });

  it('refuses a value outside the model range in the page, and sends nothing', async () => {
    await page.fill('input[name="setpoint"]', '99');
    await page.click('tr[data-property="setpoint"] button[type="submit"]');
    await waitFor('the refusal', async () => /above the maximum 30/.test(await cellText(page, 'setpoint', 'form-error')), LONG, 50);
    const twin = (await (await fetch(`${gw.apiUrl}/api/v1/devices/default/thermostat/twin`)).json()) as { properties: { setpoint: { desired: { value: number } } } };
    assert.equal(twin.properties.setpoint.desired.value, 22.5, 'the gateway never saw 99');
    await page.fill('input[name="setpoint"]', 'abc');
    await page.click('tr[data-property="setpoint"] button[type="submit"]');
    await waitFor('a non-number refused', async () => /decimal number/.test(await cellText(page, 'setpoint', 'form-error')), LONG, 50);
  });

  it('shows a PLC that is switched off go offline, and come back online', async () => {
    await waitFor('the press online', async () => /online/.test(await rowText(page, 'default/press')), LONG, 100);
    // Its link's health: the PLC is polled every 200 ms, so requests/s shows.
    const link = `modbus:tcp:127.0.0.1:${plcPort}`;
    const linkRow = () => page.evaluate((l) => [...document.querySelectorAll('.links tbody tr')].map((r) => (r as HTMLElement).innerText).find((t) => t.startsWith(l)) ?? '', link);
    await waitFor('the PLC link polled', async () => {
      const cells = (await linkRow()).split('\t');
      return Number(cells[3]) > 0 || undefined;
    }, LONG, 200);
    await plc.stop();
    await waitFor('the press offline', async () => /offline/.test(await rowText(page, 'default/press')), LONG, 100);
    await waitFor('the lost connection counted on its link', async () => Number((await linkRow()).split('\t')[5]) > 0 || undefined, LONG, 200);
    plc = await startModbusSerialServer(image, plcPort);
    await waitFor('the press online again', async () => /online/.test(await rowText(page, 'default/press')), LONG, 100);
  });

  it('survives a gateway restart: reconnects and shows live values again', async () => {
    const port = Number(new URL(gw.apiUrl).port);
    const { mqttPort, dataDir } = gw;
    await gw.stop();
    await waitFor('the page to notice', async () => /reconnecting/.test(await page.innerText('header')), LONG, 100);
    gw = await startGatewayProcess({ devices: [join(dir, 'devices')], dataDir, apiPort: port, mqttPort });
    await waitFor('the page live again', async () => /live/.test(await page.innerText('header')), LONG, 100);
    await page.click('.device-row[data-device="default/packaging-line"]');
    const first = await waitFor('a packages value after the restart', async () => (await cellText(page, 'packages', 'value')).trim() || undefined, LONG, 100);
    await waitFor('packages changing after the restart', async () => (await cellText(page, 'packages', 'value')).trim() !== first, LONG, 100);
  });
});

describe('dashboard with 2,000 devices', { skip: missing }, () => {
  let gw: GatewayProcess;
  let dir: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const N = 2000;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-dash2k-'));
    const docs = [`apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata: { name: meter-model, namespace: default }
spec:
  protocol: virtual
  properties:
    - { name: power, type: DOUBLE, accessMode: ReadOnly, unit: W }
`];
    for (let i = 0; i < N; i++) {
      docs.push(`apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata: { name: meter-${String(i).padStart(4, '0')}, namespace: default }
spec:
  deviceModelRef: { name: meter-model }
  protocol: { protocolName: virtual, configData: { seed: ${i} } }
  properties:
    - { name: power, collectCycle: 2000, visitors: { protocolName: virtual, configData: { function: randomWalk, min: 0, max: 500 } } }
`);
    }
    writeFileSync(join(dir, 'meters.yaml'), docs.join('---\n'));
    gw = await startGatewayProcess({ devices: [join(dir, 'meters.yaml')], dataDir: join(dir, 'data') });
    await waitFor('2,000 devices loaded', async () => ((await (await fetch(`${gw.apiUrl}/api/v1/devices`)).json()) as { devices: unknown[] }).devices.length === N || undefined, LONG, 200);
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('renders the list quickly, keeps only the rows in sight in the DOM, and stays responsive', async () => {
    const page = await browser.context.newPage();
    const start = Date.now();
    await page.goto(gw.apiUrl + '/');
    await waitFor('the first device row', async () => /default\/meter-0000/.test(await rowText(page, 'default/meter-0000')), LONG, 20);
    const firstRender = Date.now() - start;
    console.log(`# 2,000 devices: time to first render ${firstRender} ms`);
    await waitFor('the header counts 2000 devices', async () => /2000 devices/.test(await page.innerText('header')), LONG, 50);
    const rows = await page.evaluate(() => document.querySelectorAll('.device-row').length);
    assert.ok(rows < 200, `a virtualised list keeps few rows in the DOM (${rows})`);
    // Scrolling to the end brings the last device in sight.
    await page.evaluate(() => {
      const list = document.querySelector('.devices')!;
      list.scrollTop = list.scrollHeight;
    });
    await waitFor('the last device in sight', async () => /meter-1999/.test(await rowText(page, 'default/meter-1999')), LONG, 50);
    // Responsive: the filter answers, and the page runs a task while values keep streaming in.
    await page.fill('input.filter', 'meter-1234');
    await waitFor('the filtered device', async () => (await page.evaluate(() => document.querySelectorAll('.device-row').length)) === 1 || undefined, LONG, 50);
    const t = Date.now();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => r(undefined))));
    console.log(`# 2,000 devices: a frame after filtering in ${Date.now() - t} ms`);
    await page.click('.device-row[data-device="default/meter-1234"]');
    await waitFor('its power value', async () => /W/.test(await cellText(page, 'power', 'value')), LONG, 50);
    await page.close();
  });
});

describe('dashboard sign-in and onboarding in a browser', { skip: missing }, () => {
  let gw: GatewayProcess;
  let dir: string;
  let server: TestServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  const token = 'browser-test-token-0123456789abcdef';

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'edgetwin-dash-auth-'));
    writeFileSync(join(dir, 'token'), token, { mode: 0o600 });
    server = await startTestServer({ trustAll: true });
    gw = await startGatewayProcess({ devices: [join(ROOT, 'examples', 'quickstart')], dataDir: join(dir, 'data'), extra: ['--api-token-file', join(dir, 'token')] });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await gw?.stop();
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('asks for the token, keeps an HttpOnly session cookie, then browses an OPC UA server and adds the proposal', async () => {
    const page = await browser.context.newPage();
    await page.goto(gw.apiUrl + '/');
    await page.waitForSelector('form.signin', { timeout: LONG });
    await page.fill('input[aria-label="API token"]', 'wrong');
    await page.click('form.signin button[type="submit"]');
    await waitFor('a wrong token refused', async () => /token is wrong/.test(await page.innerText('form.signin')), LONG, 50);
    await page.fill('input[aria-label="API token"]', token);
    await page.click('form.signin button[type="submit"]');
    await waitFor('the devices after signing in', async () => /online/.test(await rowText(page, 'default/thermostat')), LONG, 100);
    const cookies = await browser.context.cookies(gw.apiUrl);
    const session = cookies.find((c) => c.name === 'edgetwin_session');
    assert.ok(session, 'a session cookie');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
    assert.equal(await page.evaluate(() => document.cookie), '', 'no script can read it');

    await page.click('button.onboard-open');
    await page.fill('input[name="opcua-url"]', server.url);
    await page.fill('input[name="opcua-filter"]', 'Test/*');
    await page.click('.onboarding form.row button[type="submit"]');
    await waitFor('the proposal', async () => /kind: DeviceModel/.test(await page.inputValue('textarea[name="proposal"]').catch(() => '')), LONG, 100);
    await page.fill('input[name="proposal-file"]', 'bench');
    await page.click('.onboarding textarea + label + button[type="submit"]');
    await waitFor('added', async () => /added default\//.test(await page.innerText('.onboarding')), LONG, 100);
    const added = (await page.innerText('.onboard-message')).match(/added (default\/\S+)/)![1]!;
    await waitFor('the new device in the list, online', async () => /online/.test(await rowText(page, added)), LONG, 100);
    await page.close();
  });
});
