// The twin's change stream, going up: every committed reported value and every desired value of
// a property becomes the property's last value in the upstream outbox (a `twin/edge_updated`
// once drained), every device state the device's last state (`state/update`). When the twin
// learns that the cloud link is up again it asks for the node's membership detail, as KubeEdge's
// DeviceTwin does. The hub listens to the twin; the twin knows nothing of the hub.

import { msgTwin } from '../../twin/kubeedge.ts';
import type { DeviceTwin, TwinChange } from '../../twin/twin.ts';
import { MEMBERSHIP_DETAIL, membershipDetailRequest } from '../message/index.ts';
import type { Upstream } from './upstream.ts';

/** Starts forwarding; returns the function that stops it. */
export function reportTwin(twin: DeviceTwin, upstream: Upstream): () => void {
  const onChange = (c: TwinChange) => {
    switch (c.kind) {
      case 'reported': {
        const view = twin.get(c.device);
        if (!view) return;
        for (const u of c.updates) {
          const p = view.properties[u.property];
          if (p) upstream.twin(c.device, u.property, msgTwin(p, true));
        }
        return;
      }
      case 'desired':
        upstream.twin(c.device, c.property, msgTwin(c.current, true));
        return;
      case 'state': {
        // KubeEdge sets lastOnlineTime (RFC 3339, UTC) only for online and ok.
        const lastOnline = c.state === 'online' && c.lastOnline !== undefined ? new Date(c.lastOnline).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
        upstream.state(c.device, c.state, lastOnline);
        return;
      }
      case 'cloud':
        // One waiting request is enough: a link that flaps asks once, when it finally holds.
        if (c.connected) upstream.request(MEMBERSHIP_DETAIL, membershipDetailRequest(twin.nodeName));
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
