// The mapper conformance kit against the OPC UA driver and a node-opcua server in its own process.

import { after } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runConformance, type ConformanceSimulator, type SimulatedDevice } from '../mappers/sdk/testing.ts';
import { opcuaLoader } from '../mappers/opcua/index.ts';
import { startTestServer, type TestServer } from '../mappers/opcua/testing/spawn.ts';

let server: TestServer | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'edgetwin-opcua-conformance-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

const simulator: ConformanceSimulator = {
  async start(): Promise<SimulatedDevice> {
    server ??= await startTestServer({ trustAll: true });
    return {
      protocol: { url: server.url, timeout: 3, publishingInterval: 100, keepAliveCount: 5 },
      properties: [
        { name: 'temperature', type: 'double', accessMode: 'ReadWrite', visitor: { nodeID: 'ns=1;s=Test.Double' }, write: 19.75 },
        { name: 'speed', type: 'int', accessMode: 'ReadWrite', visitor: { nodeID: 'ns=1;s=Test.Int32' }, write: 1200 },
        { name: 'label', type: 'string', accessMode: 'ReadWrite', visitor: { browsePath: 'Test/String' }, write: 'line 1' },
        { name: 'enabled', type: 'boolean', accessMode: 'ReadWrite', visitor: { nodeID: 'ns=1;s=Test.Boolean' }, write: true },
        { name: 'numeric', type: 'int', visitor: { nodeID: 'ns=1;i=1001' }, expect: 42 },
      ],
      failing: { name: 'missing', type: 'double', visitor: { nodeID: 'ns=1;s=Test.DoesNotExist' } },
    };
  },
  async stop() {
    await server?.stop();
    server = undefined;
  },
  async restart() {
    await server!.restart();
  },
};

runConformance({
  driver: opcuaLoader,
  simulator,
  dataDir,
  timeoutMs: 30_000,
  badConfigs: [
    { name: 'no url', protocol: { timeout: 3 }, field: 'url' },
    { name: 'deprecated policy', protocol: { url: 'opc.tcp://127.0.0.1:4840', securityPolicy: 'Basic128Rsa15', securityMode: 'Sign' }, field: 'securityPolicy' },
    { name: 'password without userName', protocol: { url: 'opc.tcp://127.0.0.1:4840', password: '/etc/hostname' }, field: 'userName' },
    { name: 'nodeID not in standard notation', visitor: { property: 'temperature', configData: { nodeID: 'Temperature' } }, field: 'nodeID' },
    { name: 'negative samplingInterval', visitor: { property: 'speed', configData: { nodeID: 'i=1', samplingInterval: -1 } }, field: 'samplingInterval' },
  ],
});
