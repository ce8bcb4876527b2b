// Tests only: the cloud (the same startCloud the `edgetwin cloud` command calls) as a child
// process a test can kill with -9. It stands in for the controllers the next issue adds: it sends
// the objects a test writes to its stdin and reports on stdout what it stored from the edges.
//   argv[2]: JSON CloudOptions without the logger (stateDir, ports, settings, advertise)
//   stdin, one JSON object a line:
//     {"send": {"node": "n", "message": <beehive message, resource node/n/...>}} -> {"offer": {"id", "result"}}
//     {"token": {"ttlMs": 86400000}}                                         -> {"token": "..."}
//   stdout, one JSON object a line: {"ready": {"ports", "caHash"}} first, then the answers above
//     and {"stored": {"node", "message"}} for each edge message stored (before its OK went out).
import { createInterface } from 'node:readline';
import { createLogger } from '../../core/log.ts';
import { startCloud, type CloudOptions } from '../cloudhub/cloud.ts';
import { createJoinToken } from '../join/token.ts';

const out = (obj: unknown) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const options = JSON.parse(process.argv[2] ?? '{}') as Omit<CloudOptions, 'log'>;
const cloud = await startCloud({ ...options, log: createLogger({ name: 'cloud-child', level: process.env.EDGETWIN_LOG_LEVEL ?? 'warn' }) });
cloud.onUpstream((node, message) => {
  out({ stored: { node, message } });
});
out({ ready: { ports: cloud.ports, caHash: cloud.ca.hash } });

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  try {
    const cmd = JSON.parse(line) as { send?: { node: string; message: never }; token?: { ttlMs?: number } };
    if (cmd.send) {
      const result = await cloud.send(cmd.send.node, cmd.send.message);
      out({ offer: { id: (cmd.send.message as { header: { msg_id: string } }).header.msg_id, result } });
    } else if (cmd.token) {
      out({ token: await createJoinToken(cloud.ca, cmd.token.ttlMs) });
    } else {
      out({ error: `unknown command: ${line}` });
    }
  } catch (err) {
    out({ error: (err as Error).message });
  }
}
await cloud.close();
