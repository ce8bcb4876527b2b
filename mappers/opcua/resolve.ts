// From a visitor to a NodeId, once per session: standard notation (ns=2;s=..., ns=3;i=...),
// nsu=<namespace uri>;... through the server's NamespaceArray (indexes may differ between servers
// and restarts; URIs do not), or a browse path walked from the Objects folder.

import './library-log.ts';
import { BrowseDirection, NodeClass, resolveNodeId, type ClientSession, type NodeId } from 'node-opcua-client';
import { codedError } from '../sdk/async.ts';
import type { PropertyBinding } from '../sdk/driver.ts';
import { nodeRef, type OpcuaVisitor } from './config.ts';

const OBJECTS_FOLDER = 'i=85';
const HIERARCHICAL = 'i=33';

export type Resolved = { nodeId: NodeId } | { error: { code: string; message: string } };

export class NodeResolver {
  readonly #session: ClientSession;
  #namespaces?: Promise<string[]>;
  readonly #children = new Map<string, Promise<{ name: string; ns: number; nodeId: NodeId }[]>>();

  constructor(session: ClientSession) {
    this.#session = session;
  }

  async resolve(p: PropertyBinding<OpcuaVisitor>): Promise<Resolved> {
    const ref = nodeRef(p.visitor);
    try {
      if ('nodeId' in ref) return { nodeId: await this.#fromNotation(ref.nodeId) };
      return { nodeId: await this.#fromPath(ref.browsePath) };
    } catch (err) {
      const e = err as Error & { code?: string };
      return { error: { code: e.code ?? 'BAD_NODE_ID_INVALID', message: e.message } };
    }
  }

  async #fromNotation(text: string): Promise<NodeId> {
    const nsu = /^nsu=([^;]+);(.*)$/.exec(text);
    if (!nsu) return resolveNodeId(text);
    this.#namespaces ??= this.#session.readNamespaceArray();
    const index = (await this.#namespaces).indexOf(nsu[1]!);
    if (index < 0) throw codedError('BAD_NODE_ID_UNKNOWN', `the server has no namespace ${nsu[1]} (nodeID ${text})`);
    return resolveNodeId(`ns=${index};${nsu[2]}`);
  }

  async #fromPath(path: string): Promise<NodeId> {
    const segments = path.split('/').filter(Boolean);
    if (segments[0]?.replace(/^0:/, '') === 'Objects') segments.shift();
    let current = resolveNodeId(OBJECTS_FOLDER);
    const walked: string[] = ['Objects'];
    for (const segment of segments) {
      const m = /^(?:(\d+):)?(.+)$/.exec(segment)!;
      const ns = m[1] === undefined ? undefined : Number(m[1]);
      const children = await this.#childrenOf(current);
      const match = children.find((c) => c.name === m[2] && (ns === undefined || c.ns === ns));
      if (!match) {
        const names = children.map((c) => `${c.ns}:${c.name}`).slice(0, 12).join(', ');
        throw codedError('BAD_NO_MATCH', `browse path ${path}: /${walked.join('/')} has no child ${segment} (children: ${names || 'none'})`);
      }
      walked.push(segment);
      current = match.nodeId;
    }
    return current;
  }

  #childrenOf(node: NodeId) {
    const key = node.toString();
    let found = this.#children.get(key);
    if (!found) {
      found = this.#session.browse({ nodeId: node, browseDirection: BrowseDirection.Forward, referenceTypeId: HIERARCHICAL, includeSubtypes: true, nodeClassMask: NodeClass.Object | NodeClass.Variable, resultMask: 0x3f })
        .then((r) => (r.references ?? []).map((ref) => ({ name: ref.browseName.name ?? '', ns: ref.browseName.namespaceIndex, nodeId: ref.nodeId as NodeId })));
      this.#children.set(key, found);
    }
    return found;
  }
}
