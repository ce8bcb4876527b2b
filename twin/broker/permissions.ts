// Who may publish, subscribe to and receive what on the embedded broker.
// Without an ACL file: any client may send the KubeEdge requests and subscribe to everything;
// the rest of $hw/, $ke/ and $SYS/ is the gateway's own (results, delta, document, data/update,
// connected/disconnected), except $ke/.../data/update for the users named in broker.mapperUsers.
// With an ACL file, it decides the topics, as in mosquitto. In both modes: nobody but the gateway
// publishes data/update for a device a local driver serves, and once broker.mapperUsers names
// anyone, only they may publish `actual` values in a twin/update.

import type { AclFile } from './acl.ts';
import { dataUpdateDevice, isGatewayOwned, topicMatches } from './topics.ts';

export interface Who {
  /** The authenticated user (password file or client certificate CN); undefined when anonymous. */
  user?: string;
  clientId: string;
}

export interface PermissionOptions {
  acl?: AclFile;
  mapperUsers?: readonly string[];
  /** True when a local driver serves the device `ns/name`: its telemetry comes from the gateway alone. */
  servedLocally?: (device: string) => boolean;
}

const TWIN_UPDATE = '$hw/events/device/+/+/twin/update';

export class Permissions {
  private readonly mappers: ReadonlySet<string>;

  constructor(private readonly opts: PermissionOptions) {
    this.mappers = new Set(opts.mapperUsers ?? []);
  }

  /** Undefined when the publish is allowed, else why not (for the log). */
  publish(who: Who, topic: string, payload: Buffer): string | undefined {
    if (topic.startsWith('$SYS/')) return '$SYS/ topics are the broker\'s own';
    const device = dataUpdateDevice(topic);
    if (device && this.opts.servedLocally?.(device)) return `device ${device} is served by a local driver: only the gateway publishes its data/update`;
    const isMapper = who.user !== undefined && this.mappers.has(who.user);
    if (this.opts.acl) {
      if (!this.opts.acl.allows(who.user, who.clientId, topic, 'write')) return 'the ACL file grants no write access to this topic';
    } else if (isGatewayOwned(topic) && !(device && isMapper)) {
      return device ? 'only the gateway and broker.mapperUsers publish data/update' : 'only the gateway publishes results, delta, document, data/update and connected/disconnected';
    }
    if (this.mappers.size > 0 && !isMapper && topicMatches(TWIN_UPDATE, topic) && carriesActual(payload)) {
      return 'only broker.mapperUsers may publish actual values';
    }
    return undefined;
  }

  subscribe(who: Who, filter: string): boolean {
    return this.opts.acl ? this.opts.acl.allowsSubscribe(who.user, who.clientId, filter) : true;
  }

  /** May a message on `topic` be forwarded to this subscriber? */
  read(who: Who, topic: string): boolean {
    return this.opts.acl ? this.opts.acl.allows(who.user, who.clientId, topic, 'read') : true;
  }
}

/** A twin/update carrying any `actual` value; a payload that is not JSON carries none (the event bus answers 400). */
function carriesActual(payload: Buffer): boolean {
  try {
    const msg = JSON.parse(payload.toString('utf8')) as { twin?: unknown };
    if (typeof msg?.twin !== 'object' || msg.twin === null) return false;
    return Object.values(msg.twin).some((t) => typeof t === 'object' && t !== null && 'actual' in t);
  } catch {
    return false;
  }
}
