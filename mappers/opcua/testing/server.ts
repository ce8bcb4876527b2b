// An OPC UA server on node-opcua for tests and the benchmark, run as its own process so a test can
// restart it, freeze it (SIGSTOP) and kill it like a real PLC. It prints one JSON line when ready
// ({"ready":true,"port","certificate","pki"}) and takes commands on stdin ("bad <name>", "good <name>",
// "drop-subscriptions", "stats"), answering each with {"done": <command>, "reads": <ReadRequests served so far>, "sessions": <open sessions>}.
//
//   node --import tsx mappers/opcua/testing/server.ts --port 4840 --pki /tmp/pki
//     [--user name:password] [--no-anonymous] [--secure-only] [--trust-all] [--bench 1000] [--bench-period 100]

import { parseArgs } from 'node:util';
import { createInterface } from 'node:readline';
import { DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, StatusCodes, Variant, VariantArrayType, type UAVariable } from 'node-opcua';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    pki: { type: 'string' },
    user: { type: 'string' },
    'no-anonymous': { type: 'boolean', default: false },
    'secure-only': { type: 'boolean', default: false },
    'trust-all': { type: 'boolean', default: false },
    bench: { type: 'string', default: '0' },
    'bench-period': { type: 'string', default: '100' },
  },
});

/** Writable scalars, one per OPC UA built-in type the driver maps; initial values are fixed for assertions. */
export const SCALARS: { name: string; dataType: DataType; initial: unknown }[] = [
  { name: 'Boolean', dataType: DataType.Boolean, initial: true },
  { name: 'SByte', dataType: DataType.SByte, initial: -8 },
  { name: 'Byte', dataType: DataType.Byte, initial: 200 },
  { name: 'Int16', dataType: DataType.Int16, initial: -1234 },
  { name: 'UInt16', dataType: DataType.UInt16, initial: 54321 },
  { name: 'Int32', dataType: DataType.Int32, initial: -123456 },
  { name: 'UInt32', dataType: DataType.UInt32, initial: 3000000000 },
  { name: 'Int64', dataType: DataType.Int64, initial: [0xffffffff, 0xfffffffe] },
  { name: 'UInt64', dataType: DataType.UInt64, initial: [1, 2] },
  { name: 'Float', dataType: DataType.Float, initial: 1.5 },
  { name: 'Double', dataType: DataType.Double, initial: 21.25 },
  { name: 'String', dataType: DataType.String, initial: 'hello' },
  { name: 'ByteString', dataType: DataType.ByteString, initial: Buffer.from([1, 2, 3]) },
];

async function main(): Promise<void> {
  if (!args.pki) throw new Error('--pki <dir> is required (the server keeps its certificates there)');
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: args.pki, automaticallyAcceptUnknownCertificate: args['trust-all'] });
  await serverCertificateManager.initialize();
  // X.509 user identities: any well-formed user certificate whose signature proves the key is accepted.
  const userCertificateManager = new OPCUACertificateManager({ rootFolder: `${args.pki}/users`, automaticallyAcceptUnknownCertificate: true });
  await userCertificateManager.initialize();
  const [name, password] = (args.user ?? '').split(':');
  const secure = args['secure-only'];
  const server = new OPCUAServer({
    port: Number(args.port),
    hostname: '127.0.0.1',
    serverCertificateManager,
    userCertificateManager,
    allowAnonymous: !args['no-anonymous'],
    securityPolicies: secure ? [SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep, SecurityPolicy.Aes256_Sha256_RsaPss] : [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: secure ? [MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt] : [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
    userManager: { isValidUser: (user: string, pass: string) => Boolean(name) && user === name && pass === password },
    buildInfo: { productName: 'edgetwin-test-server' },
    serverInfo: { applicationUri: 'urn:edgetwin:test-server', productUri: 'urn:edgetwin:test-server' },
  });
  await server.initialize();
  const ns = server.engine.addressSpace!.getOwnNamespace();
  const objects = server.engine.addressSpace!.rootFolder.objects;
  const folder = ns.addFolder(objects, { browseName: 'Test', nodeId: 's=Test' });
  const variables = new Map<string, UAVariable>();

  for (const s of SCALARS) {
    const v = ns.addVariable({ componentOf: folder, browseName: s.name, nodeId: `s=Test.${s.name}`, dataType: s.dataType, accessLevel: 'CurrentRead | CurrentWrite', userAccessLevel: 'CurrentRead | CurrentWrite' });
    v.setValueFromSource(new Variant({ dataType: s.dataType, arrayType: VariantArrayType.Scalar, value: s.initial }));
    variables.set(s.name, v);
  }
  const counter = ns.addVariable({ componentOf: folder, browseName: 'Counter', nodeId: 's=Test.Counter', dataType: DataType.UInt32, accessLevel: 'CurrentRead' });
  const flaky = ns.addVariable({ componentOf: folder, browseName: 'Flaky', nodeId: 's=Test.Flaky', dataType: DataType.Double, accessLevel: 'CurrentRead' });
  const numeric = ns.addVariable({ componentOf: folder, browseName: 'Numeric', nodeId: 'i=1001', dataType: DataType.Int32, accessLevel: 'CurrentRead' });
  numeric.setValueFromSource(new Variant({ dataType: DataType.Int32, value: 42 }));
  variables.set('Flaky', flaky);
  // A value stamped long ago by its source, so a test can tell source time from arrival time.
  const stamped = ns.addVariable({ componentOf: folder, browseName: 'Stamped', nodeId: 's=Test.Stamped', dataType: DataType.Double, accessLevel: 'CurrentRead' });
  stamped.setValueFromSource(new Variant({ dataType: DataType.Double, value: 7 }), StatusCodes.Good, new Date(Date.UTC(2020, 0, 1)));
  let count = 0;
  let flakyBad = false;
  const tick = setInterval(() => {
    count++;
    counter.setValueFromSource(new Variant({ dataType: DataType.UInt32, value: count }));
    if (!flakyBad) flaky.setValueFromSource(new Variant({ dataType: DataType.Double, value: count / 10 }));
  }, 100);

  const benchCount = Number(args.bench);
  let benchTimer: NodeJS.Timeout | undefined;
  if (benchCount > 0) {
    const benchFolder = ns.addFolder(objects, { browseName: 'Bench', nodeId: 's=Bench' });
    const items = Array.from({ length: benchCount }, (_, i) => ns.addVariable({ componentOf: benchFolder, browseName: `B${i}`, nodeId: `s=Bench.${i}`, dataType: DataType.Double, accessLevel: 'CurrentRead' }));
    let n = 0;
    benchTimer = setInterval(() => {
      n++;
      const now = new Date();
      for (const item of items) item.setValueFromSource(new Variant({ dataType: DataType.Double, value: n }), StatusCodes.Good, now);
    }, Number(args['bench-period']));
  }

  let reads = 0;
  server.on('request', (request: { schema?: { name?: string } }) => {
    if (request.schema?.name === 'ReadRequest') reads++;
  });
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [cmd, target] = line.trim().split(/\s+/);
    if (target === 'Flaky') flakyBad = cmd === 'bad';
    const v = variables.get(target ?? '');
    if (v && cmd === 'bad') v.setValueFromSource(new Variant({ dataType: DataType.Double, value: 0 }), StatusCodes.BadDeviceFailure);
    if (v && cmd === 'good') v.setValueFromSource(new Variant({ dataType: DataType.Double, value: count / 10 }), StatusCodes.Good);
    if (cmd === 'drop-subscriptions') {
      // The session stays; only its subscriptions vanish, as after a server-side lifetime expiry.
      for (const session of server.engine.getSessions()) for (const sub of [...session.publishEngine.subscriptions]) session.deleteSubscription(sub.id);
    }
    process.stdout.write(JSON.stringify({ done: line.trim(), reads, sessions: server.engine.currentSessionCount }) + '\n');
  });

  await server.start();
  const port = server.endpoints[0]!.port;
  process.stdout.write(JSON.stringify({ ready: true, port, certificate: server.certificateFile, pki: serverCertificateManager.rootDir, namespace: ns.namespaceUri }) + '\n');
  const stop = async () => {
    clearInterval(tick);
    if (benchTimer) clearInterval(benchTimer);
    // node-opcua's shutdown can wait on open sessions for a long time: give it two seconds.
    await Promise.race([server.shutdown(0).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000))]);
    process.exit(0);
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
