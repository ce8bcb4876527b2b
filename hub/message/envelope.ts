// KubeEdge's beehive message, the one envelope of the cloud-edge link in both directions
// (kubeedge beehive/pkg/core/model/message.go). Field names and JSON keys are KubeEdge's, so an
// edgetwin gateway and KubeEdge's own components read each other's frames.

import { randomUUID } from 'node:crypto';

export interface MessageHeader {
  msg_id: string;
  parent_msg_id?: string;
  /** Milliseconds since the epoch, as beehive's NewMessage sets it. */
  timestamp: number;
  resourceversion?: string;
  sync?: boolean;
  type?: string;
}

export interface MessageRoute {
  source: string;
  destination?: string;
  group: string;
  operation: string;
  resource: string;
}

export interface Message<C = unknown> {
  header: MessageHeader;
  route: MessageRoute;
  content: C;
}

/** beehive's operation constants, plus the link's own keepalive. */
export const Operations = {
  INSERT: 'insert',
  DELETE: 'delete',
  QUERY: 'query',
  UPDATE: 'update',
  PATCH: 'patch',
  UPLOAD: 'upload',
  RESPONSE: 'response',
  ERROR: 'error',
  KEEPALIVE: 'keepalive',
  /** DeviceTwin's query for the node's membership detail (dtmanager/communicate.go detailRequest). */
  GET: 'get',
  CONNECTED: 'connected',
  DISCONNECTED: 'disconnected',
} as const;

/** Module names that travel in route.source (edge/pkg/common/modules, cloud/pkg/common/modules). */
export const Sources = {
  EDGEHUB: 'websocket',
  METAMANAGER: 'metamanager',
  TWIN: 'twin',
  EDGED: 'edged',
  SERVICEBUS: 'servicebus',
  CLOUDHUB: 'cloudhub',
  EDGECONTROLLER: 'edgecontroller',
  DEVICECONTROLLER: 'devicecontroller',
  SYNCCONTROLLER: 'synccontroller',
  ROUTER_SERVICEBUS: 'router_servicebus',
} as const;

/** Groups that travel in route.group. */
export const Groups = {
  HUB: 'hub',
  META: 'meta',
  TWIN: 'twin',
  EDGED: 'edged',
  BUS: 'bus',
  USER: 'user',
  RESOURCE: 'resource',
} as const;

/** The ACK content of a successful response (common/constants/default.go MessageSuccessfulContent). */
export const OK = 'OK';

export interface NewMessageOptions {
  resourceVersion?: string;
  parentId?: string;
  sync?: boolean;
  type?: string;
  destination?: string;
  /** For tests and replays: a fixed id or clock. */
  id?: string;
  now?: number;
}

export function newMessage<C>(route: MessageRoute, content: C, opts: NewMessageOptions = {}): Message<C> {
  const header: MessageHeader = { msg_id: opts.id ?? randomUUID(), timestamp: opts.now ?? Date.now() };
  if (opts.parentId) header.parent_msg_id = opts.parentId;
  if (opts.resourceVersion !== undefined) header.resourceversion = opts.resourceVersion;
  if (opts.sync !== undefined) header.sync = opts.sync;
  if (opts.type !== undefined) header.type = opts.type;
  const r: MessageRoute = { source: route.source, group: route.group, operation: route.operation, resource: route.resource };
  if (route.destination ?? opts.destination) r.destination = route.destination ?? opts.destination;
  return { header, route: r, content };
}

/**
 * beehive's NewRespByMessage: parent_msg_id is the original's id; source, group, resource and
 * type are copied; the operation is `response`. The ACK of a stored object carries "OK".
 */
export function responseTo<C>(orig: Message, content: C, opts: Pick<NewMessageOptions, 'id' | 'now'> = {}): Message<C> {
  return newMessage(
    { source: orig.route.source, group: orig.route.group, operation: Operations.RESPONSE, resource: orig.route.resource },
    content,
    { ...opts, parentId: orig.header.msg_id, type: orig.header.type },
  );
}

/** beehive's NewErrorMessage: operation `error`, the reason as the content. */
export function errorTo(orig: Pick<Message, 'header' | 'route'> | undefined, reason: string, source: string = Sources.CLOUDHUB): Message<string> {
  if (!orig) return newMessage({ source, group: Groups.HUB, operation: Operations.ERROR, resource: '' }, reason);
  return newMessage(
    { source: orig.route.source || source, group: orig.route.group, operation: Operations.ERROR, resource: orig.route.resource },
    reason,
    { parentId: orig.header.msg_id, type: orig.header.type },
  );
}

export function isResponse(msg: Message): boolean {
  return msg.route.operation === Operations.RESPONSE || msg.route.operation === Operations.ERROR;
}
