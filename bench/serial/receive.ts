// One bench run in a process of its own (bundled, as the gateway ships): prints its RunResult as
// one JSON line. Arguments: <gateway|floor> <paced|unpaced> <seconds> <sender script>.

import { run, type Mode, type Receiver } from './measure.ts';

const [receiver, mode, seconds, sender] = process.argv.slice(2);
const result = await run(receiver as Receiver, mode as Mode, Number(seconds), { file: sender!, execArgv: [] });
process.stdout.write(`${JSON.stringify(result)}\n`);
