// Who may publish, subscribe to and receive what on the embedded broker.
// Without an ACL file: any client may send the KubeEdge requests and subscribe to everything;
// the rest of $hw/, $ke/ and $SYS/ is the gateway's own (results, delta, document, data/update,
// connected/disconnected), except $ke/.../data/update for the users named in broker.mapperUsers.
// With an ACL file, it decides the topics, as in mosquitto. In both modes: nobody but the gateway
// publishes data/update for a device a local driver serves, and once broker.mapperUsers names
// anyone, only they may publish `actual` values in a twin/update.
// A client that authenticated with a scoped credential (a pod's) is decided by its scope alone, ACL
// file or not: it may send the device requests (twin/update, twin/get, state/update) for the devices
// of its namespaces, and subscribe to and receive those devices' $hw/ and $ke/ topics; nothing else.

import type { CredentialScope } from '../scoped-credentials.ts';
import type { AclFile } from './acl.ts';
import { dataUpdateDevice, isGatewayOwned, topicMatches } from './topics.ts';

export interface Who {
  /** The authenticated user (password file or client certificate CN); undefined when anonymous. */
  user?: string;
  clientId: string;
  /** Set when the client authenticated with a scoped credential: it limits everything the client does. */
  scope?: CredentialScope;
}

export interface PermissionOptions {
  acl?: AclFile;
  mapperUsers?: readonly string[];
  /** True when a local driver serves the device `ns/name`: its telemetry comes from the gateway alone. */
  servedLocally?: (device: string) => boolean;
}

const TWIN_UPDATE = '$hw/events/device/+/+/twin/update';
/** The requests about one device (level 3 is its namespace); membership/get names a node, not a device. */
const DEVICE_REQUESTS = [TWIN_UPDATE, '$hw/events/device/+/+/twin/get', '$hw/events/device/+/+/state/update'];

export class Permissions {
  private readonly mappers: ReadonlySet<string>;

  constructor(private readonly opts: PermissionOptions) {
    this.mappers = new Set(opts.mapperUsers ?? []);
  }

  /** Undefined when the publish is allowed, else why not (for the log). */
  publish(who: Who, topic: string, payload: Buffer): string | undefined {
    if (topic.startsWith('$SYS/')) return '$SYS/ topics are the broker\'s own';
    if (who.scope) {
      const ns = DEVICE_REQUESTS.some((f) => topicMatches(f, topic)) ? topic.split('/')[3] : undefined;
      if (ns === undefined) return `${who.scope.subject} may only publish the device requests (twin/update, twin/get, state/update)`;
      if (!who.scope.namespaces.includes(ns)) return `${who.scope.subject} may only reach the devices of namespace ${who.scope.namespaces.join(', ')}`;
      // A pod sets desired values; what a device actually does comes from its driver or mapper.
      if (topicMatches(TWIN_UPDATE, topic) && carriesActual(payload)) return `${who.scope.subject} may set desired values, not actual ones`;
      return undefined;
    }
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
    if (who.scope) {
      // The first four levels must name the device topics of one of its namespaces, wildcards after.
      const [a, b, c, ns] = filter.split('/');
      return (a === '$hw' || a === '$ke') && b === 'events' && c === 'device' && ns !== undefined && who.scope.namespaces.includes(ns);
    }
    return this.opts.acl ? this.opts.acl.allowsSubscribe(who.user, who.clientId, filter) : true;
  }

  /** May a message on `topic` be forwarded to this subscriber? */
  read(who: Who, topic: string): boolean {
    if (who.scope) {
      const [a, b, c, ns] = topic.split('/');
      return (a === '$hw' || a === '$ke') && b === 'events' && c === 'device' && ns !== undefined && who.scope.namespaces.includes(ns);
    }
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
