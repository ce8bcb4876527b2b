// The twin's change stream, going up: every committed reported value, desired value and reconcile
// transition of a property becomes the property's last twin in the upstream outbox (a
// `twin/edge_updated` once drained), every device state the device's last state (`state/update`).
// Stored values are not replayed when the gateway starts (thousands of devices would flood the
// outbox with what the cloud already has); each property goes up with its next reading. When the
// twin learns that the cloud link is up again it asks for the node's membership detail, as
// KubeEdge's DeviceTwin does. The hub listens to the twin; the twin knows nothing of the hub.
//
// KubeEdge's MsgTwin shape, with edgetwin's extras in its open metadata maps (timestamp a number
// of ms as KubeEdge's; the extras strings):
//   actual.metadata:   timestamp, quality (good | uncertain | bad), reconcile, reason, error
//   expected.metadata: timestamp, origin (cloud | api | mqtt | cli | yaml), reconcile, reason
// The reconcile state rides on both, because a property whose desired value never reached the
// machine may have no reading yet (no `actual`), and the cluster must still see it pending or failed.

import { msgTwin, type MsgTwin } from '../../twin/kubeedge.ts';
import type { DeviceTwin, TwinChange, TwinPropertyView } from '../../twin/twin.ts';
import { MEMBERSHIP_DETAIL, membershipDetailRequest } from '../message/index.ts';
import type { Upstream } from './upstream.ts';

/** The twin of one property as it goes up to the cloud. */
export function upstreamTwin(p: TwinPropertyView): MsgTwin {
  const t = msgTwin(p, true);
  const rec: Record<string, string> = {};
  if (p.reconcile.state !== 'none') rec.reconcile = p.reconcile.state;
  if (p.reconcile.reason !== undefined) rec.reason = p.reconcile.reason;
  if (t.actual) {
    t.actual.metadata = { ...t.actual.metadata, ...rec };
  }
  if (t.expected && p.desired) {
    t.expected.metadata = { ...t.expected.metadata, origin: p.desired.origin, ...rec };
  }
  return t;
}

/** KubeEdge's lastOnlineTime: RFC 3339 UTC, set only for online (and KubeEdge's ok). */
export function lastOnlineTime(state: string, lastOnline: number | undefined): string | undefined {
  return state === 'online' && lastOnline !== undefined ? new Date(lastOnline).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
}

/**
 * Starts forwarding; returns the function that stops it. `holdState` says when a device's state
 * must not go up (its load error is what the cluster sees instead).
 */
export function reportTwin(twin: DeviceTwin, upstream: Upstream, holdState: (device: string) => boolean = () => false): () => void {
  const property = (device: string, name: string) => {
    const p = twin.get(device)?.properties[name];
    if (p) upstream.twin(device, name, upstreamTwin(p));
  };
  const onChange = (c: TwinChange) => {
    switch (c.kind) {
      case 'reported': {
        const view = twin.get(c.device);
        if (!view) return;
        for (const u of c.updates) {
          const p = view.properties[u.property];
          if (p) upstream.twin(c.device, u.property, upstreamTwin(p));
        }
        return;
      }
      case 'desired':
        upstream.twin(c.device, c.property, upstreamTwin(c.current));
        return;
      case 'reconcile':
        property(c.device, c.property);
        return;
      case 'state':
        if (!holdState(c.device)) upstream.state(c.device, c.state, lastOnlineTime(c.state, c.lastOnline));
        return;
      case 'cloud':
        // One waiting request is enough: a link that flaps asks once, when it finally holds.
        if (c.connected) upstream.latest(MEMBERSHIP_DETAIL, membershipDetailRequest(twin.nodeName));
        return;
      default:
        return;
    }
  };
  twin.on('change', onChange);
  return () => {
    twin.off('change', onChange);
  };
}
