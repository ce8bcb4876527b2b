// The scaffold's example Device/DeviceModel YAML and its README (the configuration reference table).

import type { ScaffoldNames } from './templates.ts';

export function deviceYaml(n: ScaffoldNames): string {
  return `# A ${n.protocol} instrument as edgetwin runs it: start the simulator (\`npm run simulate\`, port ${n.port}),
# then \`npx edgetwin run --driver . --devices examples\` in this folder.
apiVersion: devices.kubeedge.io/v1beta1
kind: DeviceModel
metadata:
  name: ${n.protocol}-instrument-model
  namespace: default
spec:
  protocol: ${n.protocol}
  properties:
    - name: temperature
      description: measured temperature
      type: DOUBLE
      accessMode: ReadOnly
      unit: degC
    - name: setpoint
      description: temperature setpoint (the instrument accepts 5 to 30)
      type: DOUBLE
      accessMode: ReadWrite
      unit: degC
---
apiVersion: devices.kubeedge.io/v1beta1
kind: Device
metadata:
  name: ${n.protocol}-instrument
  namespace: default
spec:
  deviceModelRef:
    name: ${n.protocol}-instrument-model
  protocol:
    protocolName: ${n.protocol}
    configData:
      host: 127.0.0.1
      port: ${n.port}
  properties:
    - name: temperature
      collectCycle: 1000
      reportCycle: 10000
      visitors:
        protocolName: ${n.protocol}
        configData:
          key: temp
          deadband: 0.2
    - name: setpoint
      collectCycle: 1000
      visitors:
        protocolName: ${n.protocol}
        configData:
          key: setpoint
`;
}

export function readme(n: ScaffoldNames): string {
  return `# ${n.packageName}

An [edgetwin](https://www.npmjs.com/package/edgetwin) driver for the \`${n.protocol}\` protocol: a text
instrument on TCP (\`GET <key>\` answers \`OK <value>\` or \`ERR <CODE> <message>\`; \`SET <key> <value>\`
answers \`OK\`). Written with \`edgetwin mapper new\`; replace the wire protocol in \`src/driver.ts\` with your
device's.

## Use it

\`\`\`sh
npm install ${n.packageName}            # beside edgetwin, in the gateway's folder
npx edgetwin run --driver ${n.packageName} --devices devices/
\`\`\`

or list it in the gateway's config file:

\`\`\`yaml
drivers:
  - ${n.packageName}
\`\`\`

\`npx edgetwin drivers --config gateway.yaml\` shows what loads and from where.

## Configuration reference

\`spec.protocol.configData\` (protocolName \`${n.protocol}\`):

| Field | Type | Required | Meaning |
|---|---|---|---|
| \`host\` | string | yes | the instrument's host name or address |
| \`port\` | integer 1-65535 | yes | its TCP port |

\`visitors.configData\` of each property:

| Field | Type | Required | Meaning |
|---|---|---|---|
| \`key\` | string \`[A-Za-z0-9_.]+\` | yes | the key \`GET\` and \`SET\` name |
| \`deadband\` | number | no | report only changes larger than this (applied by edgetwin) |

Values arrive as text and edgetwin converts them to the property's type in the DeviceModel. A \`SET\`
the instrument refuses with \`ERANGE\`, \`EREADONLY\` or \`EINVAL\` is permanent: the twin shows the
property \`failed\` with the instrument's reason and does not retry until the desired value changes.

## Develop

\`\`\`sh
npm install          # compiles src/ and test/ to dist/ (prepare)
npm test             # the edgetwin conformance kit against the in-process simulator
npm run simulate     # the simulator on 127.0.0.1:${n.port}, the port examples/device.yaml names
npx edgetwin run --driver . --devices examples      # in a second terminal
npx edgetwin twin set default/${n.protocol}-instrument setpoint=22
\`\`\`

## Publish

\`npm pack\` builds the package (\`prepare\` compiles it) and shows what ships; \`npm publish\` publishes it.
\`edgetwin\` is a peer dependency: the gateway's own copy runs the driver.
`;
}
