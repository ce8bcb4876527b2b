// The line instrument's simulator: a real TCP server on 127.0.0.1 that keeps its port across
// restarts, so the conformance kit can power-cycle it under a connected driver.
import { createServer, type Server, type Socket } from 'node:net';
import type { ConformanceSimulator, SimulatedDevice } from '../kit.ts';

export function lineSimulator(): ConformanceSimulator & { port(): number } {
  const values = new Map([['temp', '23.5'], ['count', '42'], ['name', 'line-1'], ['running', 'true'], ['sp', '20']]);
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const serve = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffer = '';
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      for (let i = buffer.indexOf('\n'); i >= 0; i = buffer.indexOf('\n')) {
        const [verb, key = '', ...rest] = buffer.slice(0, i).split(' ');
        buffer = buffer.slice(i + 1);
        if (!values.has(key)) socket.write(`ERR ENOKEY no such key ${key}\n`);
        else if (verb === 'GET') socket.write(`OK ${values.get(key)}\n`);
        else if (verb === 'SET') { values.set(key, rest.join(' ')); socket.write('OK\n'); }
        else socket.write(`ERR EVERB unknown command ${verb}\n`);
      }
    });
  };
  const listen = () => new Promise<void>((resolve) => {
    server = createServer(serve);
    server.listen(port, '127.0.0.1', () => {
      port = (server!.address() as { port: number }).port;
      resolve();
    });
  });
  const close = () => new Promise<void>((resolve) => {
    for (const s of sockets) s.destroy();
    if (!server) return resolve();
    server.close(() => resolve());
    server = undefined;
  });

  return {
    port: () => port,
    async start(): Promise<SimulatedDevice> {
      await listen();
      return {
        protocol: { host: '127.0.0.1', port },
        properties: [
          { name: 'temperature', type: 'double', visitor: { key: 'temp' }, expect: 23.5 },
          { name: 'count', type: 'int', visitor: { key: 'count' }, expect: 42 },
          { name: 'label', type: 'string', visitor: { key: 'name' }, expect: 'line-1' },
          { name: 'running', type: 'boolean', visitor: { key: 'running' }, expect: true },
          { name: 'setpoint', type: 'double', accessMode: 'ReadWrite', visitor: { key: 'sp' }, write: 22.5 },
        ],
        failing: { name: 'missing', type: 'int', visitor: { key: 'nothing' } },
      };
    },
    stop: close,
    async restart() {
      await close();
      await listen();
    },
  };
}
