// Driver.discover for OPC UA: browse a server's address space from the Objects folder and yield it
// as one device, its variables as properties, with the DeviceModel and Device proposal.
// `edgetwin opcua browse` and the dashboard use it.

import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';
import type { ConfigData } from '../../core/model/types.ts';
import type { DiscoveredDevice, DriverContext } from '../sdk/index.ts';
import { browseServer, type BrowseOptions } from './browse.ts';
import type { OpcuaProtocol } from './config.ts';
import { propertyNames, proposalYaml } from './proposal.ts';

/** The options discover() takes: the protocol configData that reaches the server, and how to browse. */
export type OpcuaDiscoverOptions = OpcuaProtocol & BrowseOptions & {
  /** Device name (default opcua-<host:port>), Kubernetes namespace, and collectCycle of the proposal. */
  name?: string;
  namespace?: string;
  collectCycle?: number;
};

export async function* discoverOpcua(options: ConfigData, ctx: DriverContext): AsyncIterable<DiscoveredDevice> {
  if (typeof options.url !== 'string') throw new EdgetwinError(ErrorCodes.BAD_REQUEST, 'discovering OPC UA devices needs the server\'s url', { path: 'url' }, 'pass the endpoint, e.g. opc.tcp://plc.local:4840');
  const { depth, filter, includeServer, namespaceUris, name, namespace, collectCycle, ...protocol } = options as unknown as OpcuaDiscoverOptions;
  const variables = await browseServer(protocol, ctx.dataDir, { depth, filter, includeServer, namespaceUris });
  if (!variables.length) return;
  const names = propertyNames(variables);
  const device = name ?? `opcua-${new URL(protocol.url.replace(/^opc\.tcp:/, 'http:')).host}`;
  yield {
    name: device,
    protocol,
    properties: variables.map((v, i) => ({ name: names[i]!, type: v.type, visitor: { nodeID: v.nodeId } })),
    details: { variables },
    proposal: proposalYaml(variables, { name: device, namespace, protocol, collectCycle }),
  };
}
