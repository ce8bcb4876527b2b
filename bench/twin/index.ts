// `npm run bench -- twin` or `node --import tsx bench/twin/index.ts`: the twin pipeline against
// its bare baseline, then the resident memory of `edgetwin run` on the quick start (which runs
// the bundle in dist/: `npm run build` first), alone and with `--cloud` (edged off: no pods), linked to
// `edgetwin cloud` (joined with a real token, reports answered), and with `--cloud` and edged on (its
// default there) with no pods, on a containerd of its own when the machine has one. Prints a table,
// then one JSON line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { join as joinCloud } from '../../hub/join/client.ts';
import { containerdMissing, startContainerd } from '../../hub/edged/testing/containerd.ts';
import { CloudProcess } from '../../hub/testing/cloud-process.ts';
import { measureGatewayMemory, MEMORY_GOAL_MB } from '../memory/gateway-memory.ts';
import { formatTable, runTwinBench } from './pipeline.ts';
import { freePort } from '../../core/testing.ts';

const result = await runTwinBench();
console.log(formatTable(result));
const memory = await measureGatewayMemory();
const memoryMet = memory.maxMb < MEMORY_GOAL_MB;
console.log(`  edgetwin run RSS (max)  ${String(memory.maxMb).padStart(6)} MB  < ${MEMORY_GOAL_MB} MB ${memoryMet ? '' : 'MISSED'}`);

const cloudState = mkdtempSync(join(tmpdir(), 'edgetwin-mem-cloud-'));
const cloud = await CloudProcess.start({ stateDir: cloudState, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'] });
const confDir = mkdtempSync(join(tmpdir(), 'edgetwin-mem-conf-'));
/** Edged with nothing to run costs: a containerd of the bench's own when there is one (else the default socket, unreachable). */
const EDGED_GOAL_MB = 90;
let memoryCloud;
let memoryEdged;
let edgedRuntime = 'none reachable';
try {
  const token = await cloud.token();
  const linked = (extra: string[], nodeName: string) => measureGatewayMemory({
    args: ['--cloud', `wss://127.0.0.1:${cloud.ports.cloudhub}`, ...extra],
    prepare: async (dataDir) => {
      await joinCloud({ cloud: `127.0.0.1:${cloud.ports.join}`, token, nodeName, dataDir });
    },
    ready: (health) => (health.cloud as { connected?: boolean } | undefined)?.connected === true,
  });
  writeFileSync(join(confDir, 'edged-off.yaml'), 'edged:\n  enabled: false\n');
  memoryCloud = await linked(['--config', join(confDir, 'edged-off.yaml')], 'bench-node');
  const missing = containerdMissing();
  const ctd = missing ? undefined : await startContainerd();
  try {
    const bridge = `etmem${process.pid % 1000}`;
    writeFileSync(join(confDir, 'edged-on.yaml'), ctd
      ? `edged:\n  containerd: ${ctd.endpoint}\n  cniConfDir: ${ctd.cniConfDir}\n  bridge: ${bridge}\n  podCidr: 10.253.${process.pid % 200}.0/24\n`
      : `edged:\n  cniConfDir: ${confDir}/cni\n  containerd: unix://${confDir}/no-containerd.sock\n`);
    edgedRuntime = ctd ? 'containerd (the bench\'s own)' : `none reachable (${missing})`;
    memoryEdged = await linked(['--config', join(confDir, 'edged-on.yaml')], 'bench-edged');
    await ctd?.stop({ bridge });
  } catch (err) {
    await ctd?.stop();
    throw err;
  }
} finally {
  await cloud.stop();
  rmSync(cloudState, { recursive: true, force: true });
  rmSync(confDir, { recursive: true, force: true });
}
const cloudMet = memoryCloud.maxMb < MEMORY_GOAL_MB;
console.log(`  edgetwin run --cloud RSS (max)  ${String(memoryCloud.maxMb).padStart(6)} MB  < ${MEMORY_GOAL_MB} MB ${cloudMet ? '' : 'MISSED'}`);
const edgedMet = memoryEdged.maxMb < EDGED_GOAL_MB;
console.log(`  edgetwin run --cloud, edged on, no pods RSS (max)  ${String(memoryEdged.maxMb).padStart(6)} MB  < ${EDGED_GOAL_MB} MB ${edgedMet ? '' : 'MISSED'} (runtime: ${edgedRuntime})`);
console.log(JSON.stringify({
  ...result,
  memory: { ...memory, goalMb: MEMORY_GOAL_MB, met: memoryMet },
  memoryCloud: { ...memoryCloud, goalMb: MEMORY_GOAL_MB, met: cloudMet },
  memoryEdged: { ...memoryEdged, goalMb: EDGED_GOAL_MB, met: edgedMet, runtime: edgedRuntime },
  pass: result.pass && memoryMet && cloudMet && edgedMet,
}));
