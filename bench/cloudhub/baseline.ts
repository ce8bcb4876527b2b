// The baseline of bench/cloudhub: a bare `ws` server accepting the same TLS connections (client
// certificate required) and answering each report with the response frame edgetwin sends, and
// nothing else.
//   argv[2]: JSON { port, certPem, keyPem, caPem }   stdout: {"ready": port}
import { createServer } from 'node:https';
import { WebSocketServer } from 'ws';
import { OK, responseTo, type Message } from '../../hub/message/index.ts';

const args = JSON.parse(process.argv[2]!) as { port: number; certPem: string; keyPem: string; caPem: string };
const server = createServer({ cert: args.certPem, key: args.keyPem, ca: args.caPem, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' });
const wss = new WebSocketServer({ server, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as Message;
    if (msg.route.operation === 'keepalive') return;
    ws.send(JSON.stringify(responseTo(msg, OK)));
  });
});
server.listen(args.port, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ ready: args.port })}\n`));
// A clean exit on SIGTERM, so a profile asked for with --cpu-prof is written.
process.once('SIGTERM', () => process.exit(0));
