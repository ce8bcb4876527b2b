// A DeviceModel + Device proposal from browsed variables, as YAML a user reviews and saves. Property
// names come from browse names (lowerCamelCase), prefixed with their parents' names only where two
// variables would otherwise collide.

import { proposalYaml as deviceProposal } from '../sdk/index.ts';
import type { OpcuaProtocol } from './config.ts';

export interface ProposedVariable {
  nodeId: string;
  path: string[];
  dataType: string;
  type: string;
  writable: boolean;
  description?: string;
}

export interface ProposalOptions {
  name: string;
  namespace?: string;
  protocol: OpcuaProtocol;
  collectCycle?: number;
}

function camel(parts: string[]): string {
  const words = parts.join(' ').split(/[^A-Za-z0-9]+/).filter(Boolean);
  const name = words.map((w, i) => (i === 0 ? w[0]!.toLowerCase() + w.slice(1) : w[0]!.toUpperCase() + w.slice(1))).join('');
  return /^[0-9]/.test(name) ? `p${name}` : name || 'value';
}

/** Shortest unique name per variable: the browse name, then with as many parents as it takes. */
export function propertyNames(variables: ProposedVariable[]): string[] {
  const depth = variables.map(() => 1);
  for (;;) {
    const names = variables.map((v, i) => camel(v.path.slice(-depth[i]!)));
    const counts = new Map<string, number>();
    for (const n of names) counts.set(n, (counts.get(n) ?? 0) + 1);
    let grew = false;
    names.forEach((n, i) => {
      if (counts.get(n)! > 1 && depth[i]! < variables[i]!.path.length) {
        depth[i]!++;
        grew = true;
      }
    });
    if (!grew) return names.map((n, i) => (counts.get(n)! > 1 ? `${n}${i}` : n));
  }
}

/** A DNS-1123 name from free text (server host, a user's --name). */
export function resourceName(text: string): string {
  const name = text.toLowerCase().replace(/[^a-z0-9.-]+/g, '-').replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '').slice(0, 63);
  return name || 'opcua-device';
}

export function proposalYaml(variables: ProposedVariable[], opts: ProposalOptions): string {
  const names = propertyNames(variables);
  const collectCycle = opts.collectCycle ?? 1000;
  return deviceProposal({
    name: resourceName(opts.name),
    namespace: opts.namespace,
    protocol: 'opcua',
    protocolConfig: { ...opts.protocol },
    properties: variables.map((v, i) => ({
      model: {
        name: names[i]!,
        description: v.description ?? `${v.path.join('/')} (${v.dataType})`,
        type: v.type,
        accessMode: v.writable ? 'ReadWrite' : 'ReadOnly',
      },
      device: { name: names[i]!, collectCycle, visitors: { protocolName: 'opcua', configData: { nodeID: v.nodeId } } },
    })),
    header: [
      `# Proposed by \`edgetwin opcua browse ${opts.protocol.url}\`: ${variables.length} variable(s).`,
      '# Review the names, types and accessMode, remove what you do not need, then `edgetwin validate` and run.',
    ],
  });
}
