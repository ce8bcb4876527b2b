// `npm run simulate`: the instrument on the port examples/device.yaml names, for a first run of
// `edgetwin run --driver . --devices examples`. Ctrl-C stops it.
import { InstrumentSimulator } from './simulator.js';

const port = Number(process.env.PORT ?? 24023);
const simulator = new InstrumentSimulator(port);
await simulator.start();
process.stdout.write(`line instrument simulator on 127.0.0.1:${simulator.port}\n`);
process.once('SIGINT', () => void simulator.stop());
process.once('SIGTERM', () => void simulator.stop());
