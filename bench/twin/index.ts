// `node --import tsx bench/twin/index.ts`: prints a table, then one JSON line.
import { formatTable, runTwinBench } from './pipeline.ts';

const result = await runTwinBench();
console.log(formatTable(result));
console.log(JSON.stringify(result));
