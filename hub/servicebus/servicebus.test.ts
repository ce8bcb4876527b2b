// ServiceBus's limits on the local call: the body cap, the timeout, a refused port, a dead port.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../core/testing.ts';
import { silentLogger } from '../../core/log.ts';
import { newMessage } from '../message/index.ts';
import { ServiceBus } from './servicebus.ts';

const call = (port: number, path: string) => newMessage({ source: 'router_servicebus', group: 'user', operation: 'GET', resource: `${port}:${path}` }, { header: {}, method: 'GET', url: path, body: '' });
const text = (b64: string) => Buffer.from(b64, 'base64').toString();

describe('ServiceBus limits', () => {
  let server: Server;
  let port: number;
  let connections = 0;
  before(async () => {
    server = createServer((req, res) => {
      if (req.url === '/big') res.end(Buffer.alloc(2048, 'x'));
      else if (req.url === '/slow') setTimeout(() => res.end('late'), 2000).unref();
      else res.end('ok');
    });
    server.on('connection', () => connections++);
    const serverPort = await freePort();
    await new Promise<void>((r) => server.listen(serverPort, '127.0.0.1', () => r()));
    port = (server.address() as { port: number }).port;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  it('refuses an answer over the body cap and a call over the timeout, naming the limit', async () => {
    const bus = new ServiceBus({ allowedPorts: [port], log: silentLogger, maxBodyBytes: 1024, timeoutMs: 200 });
    const big = (await bus.call(call(port, '/big'))).content;
    assert.equal(big.status_code, 502);
    assert.match(text(big.body), /over 1024 bytes/);
    const slow = (await bus.call(call(port, '/slow'))).content;
    assert.equal(slow.status_code, 502);
    assert.match(text(slow.body), /no answer within 200 ms/);
    const fine = (await bus.call(call(port, '/fine'))).content;
    assert.equal(fine.status_code, 200);
    assert.equal(text(fine.body), 'ok');
  });

  it('a port not allowed gets 403 without a connection; an allowed port with nothing listening gets 502', async () => {
    const before = connections;
    const bus = new ServiceBus({ allowedPorts: [], log: silentLogger });
    const refused = await bus.call(call(port, '/'));
    assert.equal(refused.content.status_code, 403);
    assert.equal(refused.header.parent_msg_id !== undefined, true);
    assert.equal(connections, before);
    const dead = await freePort();
    const nobody = await new ServiceBus({ allowedPorts: [dead], log: silentLogger }).call(call(dead, '/'));
    assert.equal(nobody.content.status_code, 502);
    assert.match(text(nobody.content.body), /ECONNREFUSED/);
  });
});
