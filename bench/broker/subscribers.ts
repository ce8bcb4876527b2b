// The fast subscribers of bench/broker, in their own process so that their parsing does not
// compete with the broker on its event loop: N mqtt.js clients on one topic filter, printing
// the messages received by all of them together, every 200 ms, until stdin closes.
import mqtt from 'mqtt';

const [url, n, filter] = [process.argv[2]!, Number(process.argv[3]), process.argv[4]!];
let received = 0;
const clients = await Promise.all(
  Array.from({ length: n }, async (_, i) => {
    const c = await mqtt.connectAsync(url, { clientId: `fast-${i}`, reconnectPeriod: 0 });
    c.on('message', () => received++);
    await c.subscribeAsync(filter, { qos: 0 });
    return c;
  }),
);
process.stdout.write(`ready\n`);
const timer = setInterval(() => process.stdout.write(`${received}\n`), 200);
process.stdin.resume();
process.stdin.on('end', async () => {
  clearInterval(timer);
  await Promise.all(clients.map((c) => c.endAsync(true)));
  process.exit(0);
});
