// `npm run bench -- twin` or `node --import tsx bench/twin/index.ts`: the twin pipeline against
// its bare baseline, then the resident memory of `edgetwin run` on the quick start (which runs
// the bundle in dist/: `npm run build` first), alone and with `--cloud` (edged off: no pods), linked to
// a TLS WebSocket peer that answers its reports. Prints a table, then one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OK, responseTo } from '../../hub/message/index.ts';
import { RawCloud } from '../../hub/testing/raw-cloud.ts';
import { measureGatewayMemory, MEMORY_GOAL_MB } from '../memory/gateway-memory.ts';
import { formatTable, runTwinBench } from './pipeline.ts';

const result = await runTwinBench();
console.log(formatTable(result));
const memory = await measureGatewayMemory();
const memoryMet = memory.maxMb < MEMORY_GOAL_MB;
console.log(`  edgetwin run RSS (max)  ${String(memory.maxMb).padStart(6)} MB  < ${MEMORY_GOAL_MB} MB ${memoryMet ? '' : 'MISSED'}`);

const cloudState = mkdtempSync(join(tmpdir(), 'edgetwin-mem-cloud-'));
const cloud = await RawCloud.start(cloudState);
cloud.answer = (m) => (m.route.source === 'twin' ? responseTo(m, OK) : undefined);
let memoryCloud;
try {
  memoryCloud = await measureGatewayMemory({
    args: ['--cloud', cloud.url],
    prepare: (dataDir) => cloud.enrol(dataDir, 'bench-node'),
    ready: (health) => (health.cloud as { connected?: boolean } | undefined)?.connected === true,
  });
} finally {
  await cloud.close();
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
