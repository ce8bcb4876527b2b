// A small production line as an OPC UA server (node-opcua): an oven and a cooler with temperatures
// that drift, good and rejected part counters, a writable speed setpoint that the actual speed
// follows, and a state enumeration (Stopped, Running, Fault) you can write to start and stop it.
//
//   node --import tsx examples/opcua-line/simulator.ts [--port 4840] [--pki <dir>]
//
// Endpoints: SecurityPolicy None, and Basic256Sha256 SignAndEncrypt. For the example's sake the
// server trusts any client certificate; a real server would not.

import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, StatusCodes, Variant, type UAVariable } from 'node-opcua';

export const NAMESPACE = 'urn:edgetwin:opcua-line';

const { values: args } = parseArgs({
  options: { port: { type: 'string', default: '4840' }, pki: { type: 'string', default: join(tmpdir(), 'edgetwin-opcua-line-pki') } },
});

const STATES = ['Stopped', 'Running', 'Fault'];

async function main(): Promise<void> {
  mkdirSync(args.pki!, { recursive: true });
  const serverCertificateManager = new OPCUACertificateManager({ rootFolder: args.pki, automaticallyAcceptUnknownCertificate: true });
  await serverCertificateManager.initialize();
  const server = new OPCUAServer({
    port: Number(args.port),
    serverCertificateManager,
    securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256],
    securityModes: [MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt],
    serverInfo: { applicationUri: NAMESPACE, productUri: NAMESPACE, applicationName: { text: 'edgetwin opcua-line simulator' } },
    buildInfo: { productName: 'opcua-line simulator' },
  });
  await server.initialize();
  const addressSpace = server.engine.addressSpace!;
  const ns = addressSpace.getOwnNamespace();
  const line = ns.addObject({ organizedBy: addressSpace.rootFolder.objects, browseName: 'Line1', nodeId: 's=Line1' });
  const stateType = ns.addEnumerationType({ browseName: 'LineState', enumeration: STATES });

  const variable = (parent: typeof line, name: string, dataType: DataType | typeof stateType, writable: boolean, description: string, unit?: string): UAVariable => {
    return ns.addVariable({
      componentOf: parent,
      browseName: name,
      nodeId: `s=${parent === line ? 'Line1' : `Line1.${parent.browseName.name}`}.${name}`,
      dataType,
      description: unit ? `${description} (${unit})` : description,
      accessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      userAccessLevel: writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
      minimumSamplingInterval: 50,
    });
  };
  const oven = ns.addObject({ componentOf: line, browseName: 'Oven', nodeId: 's=Line1.Oven' });
  const cooler = ns.addObject({ componentOf: line, browseName: 'Cooler', nodeId: 's=Line1.Cooler' });
  const ovenTemp = variable(oven, 'Temperature', DataType.Double, false, 'oven air temperature', '°C');
  const ovenSetpoint = variable(oven, 'TemperatureSetpoint', DataType.Double, true, 'oven temperature setpoint', '°C');
  const coolerTemp = variable(cooler, 'Temperature', DataType.Double, false, 'cooling tunnel temperature', '°C');
  const goodParts = variable(line, 'GoodParts', DataType.UInt32, false, 'good parts since the shift started');
  const rejected = variable(line, 'RejectedParts', DataType.UInt32, false, 'parts rejected by the vision check');
  const speedSetpoint = variable(line, 'SpeedSetpoint', DataType.Double, true, 'line speed setpoint', 'parts/min');
  const speed = variable(line, 'Speed', DataType.Double, false, 'actual line speed', 'parts/min');
  const state = variable(line, 'State', stateType, true, 'line state: 0 Stopped, 1 Running, 2 Fault');

  const set = (v: UAVariable, dataType: DataType, value: number) => v.setValueFromSource(new Variant({ dataType, value }), StatusCodes.Good, new Date());
  set(ovenTemp, DataType.Double, 20);
  set(ovenSetpoint, DataType.Double, 180);
  set(coolerTemp, DataType.Double, 18);
  set(goodParts, DataType.UInt32, 0);
  set(rejected, DataType.UInt32, 0);
  set(speedSetpoint, DataType.Double, 60);
  set(speed, DataType.Double, 0);
  set(state, DataType.Int32, 1);

  let good = 0;
  let bad = 0;
  let partCredit = 0;
  const num = (v: UAVariable) => Number(v.readValue().value.value);
  const tickMs = 200;
  const timer = setInterval(() => {
    const running = num(state) === 1;
    const target = running ? Math.max(0, num(speedSetpoint)) : 0;
    const actual = num(speed) + (target - num(speed)) * 0.2;
    set(speed, DataType.Double, Math.round(actual * 100) / 100);
    const heat = running ? num(ovenSetpoint) : 20;
    set(ovenTemp, DataType.Double, Math.round((num(ovenTemp) + (heat - num(ovenTemp)) * 0.05 + (Math.random() - 0.5) * 0.4) * 100) / 100);
    set(coolerTemp, DataType.Double, Math.round((18 + actual / 30 + (Math.random() - 0.5) * 0.2) * 100) / 100);
    partCredit += (actual / 60) * (tickMs / 1000);
    while (partCredit >= 1) {
      partCredit--;
      if (Math.random() < 0.03) set(rejected, DataType.UInt32, ++bad);
      else set(goodParts, DataType.UInt32, ++good);
    }
  }, tickMs);

  await server.start();
  process.stdout.write(`opcua-line simulator listening on ${server.getEndpointUrl()} (namespace ${NAMESPACE}); Ctrl-C stops it\n`);
  const stop = async () => {
    clearInterval(timer);
    // node-opcua's shutdown can wait on open sessions for a long time: give it two seconds.
    await Promise.race([server.shutdown(0).catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 2000))]);
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
