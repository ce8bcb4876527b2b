// Onboarding: walk a server's address space from the Objects folder and propose a DeviceModel and a
// Device for the variables found, with OPC UA DataTypes mapped to KubeEdge types and accessMode
// from each variable's AccessLevel. Reads are batched per tree level, so a large server costs a
// few requests per level, not one per node.

import './library-log.ts';
import { AttributeIds, BrowseDirection, DataType, NodeClass, type ClientSession, type NodeId, type ReferenceDescription } from 'node-opcua-client';
import type { OpcuaProtocol } from './config.ts';
import { openSession } from './client.ts';

export interface BrowsedVariable {
  nodeId: string;
  /** Browse names from the Objects folder, e.g. ["Line1", "Oven", "Temperature"]. */
  path: string[];
  dataType: string;
  /** KubeEdge property type, upper case as a DeviceModel writes it. */
  type: 'INT' | 'FLOAT' | 'DOUBLE' | 'STRING' | 'BOOLEAN' | 'BYTES';
  writable: boolean;
  description?: string;
}

export interface BrowseOptions {
  depth?: number;
  /** Glob on the browse path ("Line1/*", "*Temperature"); case-insensitive. */
  filter?: string;
  /** Walk the standard Server object too (large, rarely wanted). */
  includeServer?: boolean;
  /** Write nodeIDs with the namespace URI (nsu=...), which survives a server renumbering its namespaces. */
  namespaceUris?: boolean;
}

const OBJECTS = 'i=85';
const SERVER_OBJECT = 'ns=0;i=2253';
const HIERARCHICAL = 'i=33';
const HAS_PROPERTY = 'ns=0;i=46';
const ACCESS_CURRENT_WRITE = 0x02;

export function kubeEdgeType(dataType: DataType): BrowsedVariable['type'] {
  switch (dataType) {
    case DataType.Boolean: return 'BOOLEAN';
    case DataType.SByte: case DataType.Byte: case DataType.Int16: case DataType.UInt16:
    case DataType.Int32: case DataType.UInt32: case DataType.Int64: case DataType.UInt64:
      return 'INT';
    case DataType.Float: return 'FLOAT';
    case DataType.Double: return 'DOUBLE';
    case DataType.ByteString: return 'BYTES';
    default: return 'STRING';
  }
}

function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return new RegExp(`(^|/)${body}$`, 'i');
}

/** Walk the address space breadth first, one Browse request per level. */
export async function browseVariables(session: ClientSession, options: BrowseOptions = {}): Promise<BrowsedVariable[]> {
  const depth = options.depth ?? 4;
  const match = options.filter ? globToRegExp(options.filter) : undefined;
  let level: { nodeId: NodeId | string; path: string[] }[] = [{ nodeId: OBJECTS, path: [] }];
  const found: { ref: ReferenceDescription; path: string[] }[] = [];
  const seen = new Set<string>([OBJECTS]);
  for (let d = 0; d < depth && level.length; d++) {
    const results = await session.browse(level.map((n) => ({
      nodeId: n.nodeId, browseDirection: BrowseDirection.Forward, referenceTypeId: HIERARCHICAL, includeSubtypes: true,
      nodeClassMask: NodeClass.Object | NodeClass.Variable, resultMask: 0x3f,
    })));
    const next: typeof level = [];
    results.forEach((result, i) => {
      for (const ref of result.references ?? []) {
        const id = ref.nodeId.toString();
        if (seen.has(id) || ref.referenceTypeId.toString() === HAS_PROPERTY) continue;
        if (!options.includeServer && id === SERVER_OBJECT) continue;
        seen.add(id);
        const path = [...level[i]!.path, ref.browseName.name ?? id];
        if (ref.nodeClass === NodeClass.Variable) found.push({ ref, path });
        next.push({ nodeId: ref.nodeId as NodeId, path });
      }
    });
    level = next;
  }
  const wanted = match ? found.filter((f) => match.test(f.path.join('/'))) : found;
  if (!wanted.length) return [];
  const attributes = [AttributeIds.DataType, AttributeIds.AccessLevel, AttributeIds.ValueRank, AttributeIds.Description];
  const values = await session.read(wanted.flatMap((w) => attributes.map((attributeId) => ({ nodeId: w.ref.nodeId, attributeId }))));
  const namespaces = options.namespaceUris ? await session.readNamespaceArray() : [];
  const notation = (id: NodeId) => {
    const text = id.toString();
    const uri = id.namespace > 0 ? namespaces[id.namespace] : undefined;
    return uri ? text.replace(/^ns=\d+;/, `nsu=${uri};`) : text;
  };
  const out: BrowsedVariable[] = [];
  for (const [i, w] of wanted.entries()) {
    const [dt, access, rank, description] = values.slice(i * attributes.length, (i + 1) * attributes.length);
    const dataTypeId = dt?.value.value as NodeId | undefined;
    let builtIn = dataTypeId && dataTypeId.namespace === 0 && typeof dataTypeId.value === 'number' && dataTypeId.value <= 25 ? (dataTypeId.value as DataType) : undefined;
    // Enumerations and subtypes (Duration, UtcTime, a vendor's types) resolve to their built-in type.
    builtIn ??= await session.getBuiltInDataType(w.ref.nodeId as NodeId).catch(() => DataType.Null);
    const scalar = (rank?.value.value ?? -1) === -1;
    out.push({
      nodeId: notation(w.ref.nodeId as NodeId),
      path: w.path,
      dataType: scalar ? DataType[builtIn] : `${DataType[builtIn]}[]`,
      type: scalar ? kubeEdgeType(builtIn) : 'STRING',
      writable: scalar && ((access?.value.value as number | undefined ?? 0) & ACCESS_CURRENT_WRITE) !== 0,
      description: (description?.value.value as { text?: string } | null)?.text || undefined,
    });
  }
  return out;
}

/** Connect with the given protocol config, browse, and close. */
export async function browseServer(config: OpcuaProtocol, dataDir: string, options: BrowseOptions = {}): Promise<BrowsedVariable[]> {
  const open = await openSession(config, dataDir, (config.timeout ?? 10) * 1000, () => undefined);
  try {
    return await browseVariables(open.session, options);
  } finally {
    await open.close();
  }
}
