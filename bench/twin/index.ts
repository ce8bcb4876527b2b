// `npm run bench -- twin` or `node --import tsx bench/twin/index.ts`: the twin pipeline against
// its bare baseline, then the resident memory of `edgetwin run` on the quick start (which runs
// the bundle in dist/: `npm run build` first), alone and with `--cloud` (edged off: no pods), linked to
// `edgetwin cloud` (joined with a real token, reports answered). Prints a table, then one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { join as joinCloud } from '../../hub/join/client.ts';
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
let memoryCloud;
try {
  const token = await cloud.token();
  memoryCloud = await measureGatewayMemory({
    args: ['--cloud', `wss://127.0.0.1:${cloud.ports.cloudhub}`],
    prepare: async (dataDir) => {
      await joinCloud({ cloud: `127.0.0.1:${cloud.ports.join}`, token, nodeName: 'bench-node', dataDir });
    },
    ready: (health) => (health.cloud as { connected?: boolean } | undefined)?.connected === true,
  });
} finally {
  await cloud.stop();
  rmSync(cloudState, { recursive: true, force: true });
}
const cloudMet = memoryCloud.maxMb < MEMORY_GOAL_MB;
console.log(`  edgetwin run --cloud RSS (max)  ${String(memoryCloud.maxMb).padStart(6)} MB  < ${MEMORY_GOAL_MB} MB ${cloudMet ? '' : 'MISSED'}`);
console.log(JSON.stringify({
  ...result,
  memory: { ...memory, goalMb: MEMORY_GOAL_MB, met: memoryMet },
  memoryCloud: { ...memoryCloud, goalMb: MEMORY_GOAL_MB, met: cloudMet },
  pass: result.pass && memoryMet && cloudMet,
}));
