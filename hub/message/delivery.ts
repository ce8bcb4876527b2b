// Which cloud -> edge messages need an ACK, by KubeEdge's classification (noAckRequired in
// cloud/pkg/cloudhub/dispatcher/message_dispatcher.go). An ACK message is kept, resent until
// the edge answers, and recorded per node and object; a NO-ACK message is sent once.

import { Groups, Operations, Sources, type Message } from './envelope.ts';

const NO_ACK_RESOURCES = ['podlist', 'membership', 'twin/cloud_updated', 'serviceaccounttoken', 'k8s/ca.crt'];
const NO_ACK_SOURCES = new Set(['taskmanager', 'nodeupgradejobcontroller']);
const EDGECONTROLLER_NO_ACK_TYPES = new Set(['lease', 'nodepatch', 'podpatch', 'podstatus', 'certificatesigningrequest']);

export function needsAck(msg: Message): boolean {
  const { resource, group, source, operation } = msg.route;
  if (NO_ACK_RESOURCES.some((r) => resource.includes(r))) return false;
  if (operation === 'volume' || resource.includes('volume/')) return false;
  if (group === Groups.USER) return false;
  if (NO_ACK_SOURCES.has(source)) return false;
  if (operation === Operations.RESPONSE || operation === Operations.ERROR) return false;
  if (source === Sources.EDGECONTROLLER) {
    const type = resourceType(resource);
    if (type === 'node' && operation !== Operations.UPDATE) return false;
    if (type && EDGECONTROLLER_NO_ACK_TYPES.has(type)) return false;
  }
  return true;
}

/** A delete is always delivered, whatever versions were recorded before it. */
export function isDelete(msg: Message): boolean {
  if (msg.route.operation === Operations.DELETE) return true;
  const content = msg.content as { metadata?: { deletionTimestamp?: unknown } } | null;
  return Boolean(content && typeof content === 'object' && content.metadata?.deletionTimestamp);
}

/**
 * The key an ACK message is tracked by per node: the object's UID when the content carries one
 * (KubeEdge's AckMessageKeyFunc), else the resource string, so any ACK message has a key.
 */
export function objectKey(msg: Message): string {
  const content = msg.content as { metadata?: { uid?: unknown } } | null;
  const uid = content && typeof content === 'object' ? content.metadata?.uid : undefined;
  return typeof uid === 'string' && uid ? uid : msg.route.resource;
}

/** The type segment of `{ns}/{type}/{name}` or `node/{n}/{ns}/{type}/{name}`. */
function resourceType(resource: string): string | undefined {
  const parts = resource.split('/');
  const offset = parts[0] === 'node' ? 2 : 0;
  return parts[offset + 1];
}
