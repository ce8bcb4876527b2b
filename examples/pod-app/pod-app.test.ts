// The pod-app example on a real gateway (the built CLI, standalone `--pods`) with a real containerd
// and runc: the app pod reads the thermostat's twin through the API on the pod bridge with its
// token and sets the setpoint with a KubeEdge twin/update on the broker as pod:default/<name>; the
// twin shows it applied. The same app in another namespace is refused by the API (403) and by the
// broker (its twin/update never lands). No pod token appears in the gateway's log or a pod's. The
// API on the bridge address takes no caller without a pod token; after a gateway restart the
// adopted pod keeps its token, and it works again.
// Needs `node scripts/build.mjs` first (the CLI runs from dist/). Skipped where containerd is missing.

import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { waitFor } from '../../core/testing.ts';
import { containerdMissing, startContainerd, TEST_IMAGE } from '../../hub/edged/testing/containerd.ts';
import { startGatewayProcess } from '../../test/helpers/gateway-process.ts';

const here = import.meta.dirname;
const missing = containerdMissing();
if (missing) console.log(`# skipping the pod-app example test: ${missing}`);

/** The ConfigMap holding app.sh in namespace `ns`, as `kubectl create configmap pod-app --from-file=app.sh` makes it. */
function configMap(ns: string): string {
  const script = readFileSync(join(here, 'app.sh'), 'utf8');
  return JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pod-app', namespace: ns }, data: { 'app.sh': script } });
}

/** examples/pod-app/pod.yaml with the test's image, in namespace `ns` under `name`, setting `value`. */
function pod(ns: string, name: string, value: string): string {
  return readFileSync(join(here, 'pod.yaml'), 'utf8')
    .replace('image: busybox:1.36', `image: ${TEST_IMAGE}`)
    .replace('name: thermostat-app', `name: ${name}`)
    .replace('namespace: default', `namespace: ${ns}`)
    .replace('value: "21.5"', `value: "${value}"`);
}

describe('examples/pod-app on a real containerd', { skip: missing, timeout: 300_000 }, () => {
  // Real containers, a CNI bridge and two pods: minutes on a loaded machine, more than the runner's default per test.
  test('the pod sets the setpoint through the broker and reads it through the API; another namespace is refused', { timeout: 300_000 }, async (t) => {
    const n = 40 + (process.pid % 150);
    const bridge = `etapp${n}`;
    const ctd = await startContainerd();
    const podsDir = mkdtempSync(join(tmpdir(), 'edgetwin-pod-app-'));
    const configFile = join(podsDir, '..', `${podsDir.split('/').pop()}.config.yaml`);
    t.after(async () => {
      await ctd.stop({ bridge });
      rmSync(podsDir, { recursive: true, force: true });
      rmSync(configFile, { force: true });
    });
    writeFileSync(join(podsDir, 'configmaps.yaml'), `${configMap('default')}\n---\n${configMap('other')}\n`);
    writeFileSync(join(podsDir, 'app.yaml'), pod('default', 'thermostat-app', '21.5'));
    writeFileSync(join(podsDir, 'intruder.yaml'), pod('other', 'intruder', '12.5'));
    const podCidr = `10.${n}.9.0/24`;
    writeFileSync(configFile, [
      'edged:',
      `  containerd: ${ctd.endpoint}`,
      `  cniBinDir: ${ctd.cniBinDir}`,
      `  cniConfDir: ${ctd.cniConfDir}`,
      `  bridge: ${bridge}`,
      `  podCidr: ${podCidr}`,
      '  syncIntervalMs: 200',
      '  bridgeCheckMs: 100',
      '',
    ].join('\n'));

    const devices = [join(here, '..', 'quickstart', 'thermostat.yaml')];
    let gw = await startGatewayProcess({ devices, extra: ['--pods', podsDir, '--config', configFile] });
    t.after(async () => {
      await gw.stop();
      rmSync(gw.dataDir, { recursive: true, force: true });
    });
    const apiPort = new URL(gw.apiUrl).port;
    const get = async (path: string) => (await fetch(gw.apiUrl + path)).json() as Promise<any>;
    const podLog = async (ns: string, name: string) => {
      const p = (await get('/api/v1/pods')).pods.find((x: any) => x.namespace === ns && x.name === name);
      try {
        return readFileSync(join(p.logDirectory, 'app', '0.log'), 'utf8');
      } catch {
        return '';
      }
    };

    // The app pod: its setpoint reaches the twin as desired, and the virtual thermostat applies it.
    const setpoint = await waitFor('setpoint 21.5 applied', async () => {
      const sp = (await get('/api/v1/devices/default/thermostat/twin')).properties.setpoint;
      return sp?.desired?.value === 21.5 && sp.reconcile.state === 'applied' && sp;
    }, 180_000, 500);
    assert.equal(setpoint.reported.value, 21.5);
    const appLog = await waitFor('the app read the twin', async () => { const l = await podLog('default', 'thermostat-app'); return l.includes('read the twin of default/thermostat') && l; }, 60_000, 300);
    // It found the gateway on the bridge address, from the variables edged gave it.
    assert.match(appLog, new RegExp(`API http://10\\.${n}\\.9\\.1:\\d+, MQTT mqtt://10\\.${n}\\.9\\.1:${gw.mqttPort}`));

    // The intruder (namespace other): the API says 403, the broker refuses its twin/update.
    const intruderLog = await waitFor('the intruder refused', async () => { const l = await podLog('other', 'intruder'); return /refused: 403/.test(l) && /published setpoint=12.5[\s\S]*published setpoint=12.5/.test(l) && l; }, 120_000, 300);
    assert.match(intruderLog, /not in namespace other/);
    await waitFor('the broker refusal in the log', () => /mqtt publish refused[^\n]*pod:other\/intruder|pod:other\/intruder[^\n]*mqtt publish refused/.test(gw.log()), 60_000, 200);
    const after = (await get('/api/v1/devices/default/thermostat/twin')).properties.setpoint;
    assert.equal(after.desired.value, 21.5, 'the intruder never set the setpoint');

    // The tokens: one per pod, 0600 files under the data directory, and in no log.
    const podDirs = join(gw.dataDir, 'edged', 'pods');
    const uidOf = async (ns: string, name: string): Promise<string> => (await get('/api/v1/pods')).pods.find((x: any) => x.namespace === ns && x.name === name).uid;
    const tokenFile = (uid: string) => join(podDirs, uid, 'edgetwin', 'token');
    const appUid = await uidOf('default', 'thermostat-app');
    const appToken = readFileSync(tokenFile(appUid), 'utf8');
    const intruderToken = readFileSync(tokenFile(await uidOf('other', 'intruder')), 'utf8');
    assert.equal(statSync(tokenFile(appUid)).mode & 0o777, 0o600);
    assert.equal(readdirSync(podDirs).length, 2);
    for (const token of [appToken, intruderToken]) {
      assert.ok(token.length >= 40);
      assert.ok(!gw.log().includes(token), 'a pod token is in the gateway log');
      assert.ok(!appLog.includes(token) && !intruderLog.includes(token), 'a pod token is in a pod log');
    }

    // The API on the bridge address, called from this host (not loopback): only pod tokens, each in its scope.
    const bridgeApi = `http://10.${n}.9.1:${apiPort}/api/v1/devices/default/thermostat/twin`;
    const onBridge = async (token?: string) => (await fetch(bridgeApi, { headers: token ? { authorization: `Bearer ${token}` } : {} })).status;
    assert.equal(await onBridge(), 401);
    assert.equal(await onBridge(appToken), 200);
    assert.equal(await onBridge(intruderToken), 403);

    // A gateway restart (same ports, same data directory): the running pods are adopted and keep their tokens.
    await gw.stop();
    gw = await startGatewayProcess({ devices, dataDir: gw.dataDir, extra: ['--pods', podsDir, '--config', configFile, '--api-port', apiPort, '--mqtt-port', String(gw.mqttPort)], ready: async () => (await fetch(`http://127.0.0.1:${apiPort}/healthz`)).ok });
    await waitFor('the app token works again after the restart', async () => (await onBridge(appToken).catch(() => 0)) === 200, 60_000, 200);
    const restarted = (await fetch(`http://127.0.0.1:${apiPort}/api/v1/pods`).then((r) => r.json()) as any).pods.find((x: any) => x.name === 'thermostat-app');
    assert.equal(restarted.status.containerStatuses[0].restartCount, 0, 'the pod was adopted, not restarted');
    assert.equal(readFileSync(tokenFile(appUid), 'utf8'), appToken, 'the same token after the restart');
    assert.ok(!gw.log().includes(appToken), 'a pod token is in the restarted gateway log');
  });
});
