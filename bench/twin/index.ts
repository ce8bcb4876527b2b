// `npm run bench -- twin` or `node --import tsx bench/twin/index.ts`: the twin pipeline against
// its bare baseline, then the resident memory of `edgetwin run` on the quick start (which runs
// the bundle in dist/: `npm run build` first). Prints a table, then one JSON line.
import { measureGatewayMemory, MEMORY_GOAL_MB } from '../memory/gateway-memory.ts';
import { formatTable, runTwinBench } from './pipeline.ts';

const result = await runTwinBench();
console.log(formatTable(result));
const memory = await measureGatewayMemory();
const memoryMet = memory.maxMb < MEMORY_GOAL_MB;
console.log(`  edgetwin run RSS (max)  ${String(memory.maxMb).padStart(6)} MB  < ${MEMORY_GOAL_MB} MB ${memoryMet ? '' : 'MISSED'}`);
console.log(JSON.stringify({ ...result, memory: { ...memory, goalMb: MEMORY_GOAL_MB, met: memoryMet }, pass: result.pass && memoryMet }));
