// Onboarding proposals: a DeviceModel and a Device for what a driver found on the wire (a browsed
// OPC UA server, a BLE sensor's GATT table), as KubeEdge YAML the user reviews, validates and runs.

import { stringify } from 'yaml';
import { API_VERSION, type ConfigData } from '../../core/model/types.ts';

export interface ProposedProperty {
  /** The model's entry: name, type, accessMode, description, unit... */
  model: { name: string } & Record<string, unknown>;
  /** The device's entry: name, cycles, visitors... */
  device: { name: string } & Record<string, unknown>;
}

export interface Proposal {
  name: string;
  namespace?: string;
  protocol: string;
  protocolConfig: ConfigData;
  properties: ProposedProperty[];
  /** Comment lines for the top of the file (each starts with `#`). */
  header: string[];
}

export function proposalYaml(p: Proposal): string {
  const namespace = p.namespace ?? 'default';
  const model = `${p.name}-model`;
  const modelDoc = {
    apiVersion: API_VERSION,
    kind: 'DeviceModel',
    metadata: { name: model, namespace },
    spec: { protocol: p.protocol, properties: p.properties.map((x) => x.model) },
  };
  const deviceDoc = {
    apiVersion: API_VERSION,
    kind: 'Device',
    metadata: { name: p.name, namespace },
    spec: {
      deviceModelRef: { name: model },
      protocol: { protocolName: p.protocol, configData: p.protocolConfig },
      properties: p.properties.map((x) => x.device),
    },
  };
  return `${p.header.join('\n')}\n${stringify(modelDoc)}---\n${stringify(deviceDoc)}`;
}
