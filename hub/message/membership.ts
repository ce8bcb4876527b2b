// KubeEdge's membership detail: after a disconnect, the edge's DeviceTwin asks the cloud for the
// whole list of devices bound to its node (dtmanager/communicate.go detailRequest), and reads the
// answer as dttype.MembershipDetail (`{event_id, timestamp, devices: [...]}`), found by the
// `membership/detail` in its resource. Both sides of the link build and read it here.

import { randomUUID } from 'node:crypto';
import { Groups, newMessage, Operations, Sources, type Message } from './envelope.ts';

export const MEMBERSHIP_DETAIL = 'membership/detail';

/** dttype.GetDetailNode, as KubeEdge's twin sends it: JSON text in the content. */
export interface MembershipDetailRequest {
  event_type: 'group_membership_event';
  event_id: string;
  operation: 'detail';
  group_id: string;
  timestamp: number;
}

/** One device of dttype.MembershipDetail (the fields KubeEdge's twin reads). */
export interface MembershipDevice {
  id: string;
  name: string;
  description?: string;
  state?: string;
}

export interface MembershipDetail {
  event_id: string;
  timestamp: number;
  devices: MembershipDevice[];
}

/** The edge's request: group `resource`, resource `membership/detail`, operation `get`, source `twin`. */
export function membershipDetailRequest(nodeName: string, now = Date.now()): Message<string> {
  const body: MembershipDetailRequest = { event_type: 'group_membership_event', event_id: randomUUID(), operation: 'detail', group_id: nodeName, timestamp: now };
  return newMessage({ source: Sources.TWIN, group: Groups.RESOURCE, operation: Operations.GET, resource: MEMBERSHIP_DETAIL }, JSON.stringify(body));
}

/** True for the request, with the resource as the edge sends it or as the cloud prefixed it (`node/{node}/membership/detail`). */
export function isMembershipDetailRequest(msg: Message): boolean {
  return msg.route.operation === Operations.GET && (msg.route.resource === MEMBERSHIP_DETAIL || msg.route.resource.endsWith(`/${MEMBERSHIP_DETAIL}`));
}

/** The cloud's answer content. */
export function membershipDetail(devices: MembershipDevice[], now = Date.now()): MembershipDetail {
  return { event_id: randomUUID(), timestamp: now, devices };
}

/** The devices of an answer, or undefined when the content is not a membership detail (KubeEdge's cloud may answer "OK"). */
export function readMembershipDetail(content: unknown): MembershipDevice[] | undefined {
  let c = content;
  if (typeof c === 'string') {
    try {
      c = JSON.parse(c);
    } catch {
      return undefined;
    }
  }
  if (!c || typeof c !== 'object' || !Array.isArray((c as MembershipDetail).devices)) return undefined;
  return (c as MembershipDetail).devices.filter((d): d is MembershipDevice => !!d && typeof d === 'object' && typeof d.id === 'string');
}
