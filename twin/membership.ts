// Loading a device's twin from the store and keeping its properties in line with an edited
// spec: new properties get rows, removed ones lose theirs, a changed type forgets old values
// (they would not parse as the new type).

import type { DeviceSpecResolved } from '../core/device.ts';
import { DeviceEntry, PropState } from './entry.ts';
import type { Reconciler } from './reconcile.ts';
import type { TwinStore } from './store.ts';

/** Inside a transaction: the device's entry with its stored state and values. */
export function loadDevice(store: TwinStore, spec: DeviceSpecResolved): DeviceEntry {
  const e = new DeviceEntry(spec);
  store.addDevice(spec.id);
  const row = store.device(spec.id);
  // The stored state is from the previous run: until the device connects in this one, it is
  // unknown (design.md). When it was last online is still true, so that is kept.
  if (row) e.lastOnline = row.last_online ?? undefined;
  const rows = new Map(store.properties(spec.id).map((r) => [r.name, r]));
  for (const ps of spec.properties) {
    const r = rows.get(ps.name);
    if (!r) continue;
    const p = new PropState(ps, r.rid);
    if (r.type === ps.type) p.load(r);
    else store.resetProperty(r.rid, ps.type);
    e.props.set(ps.name, p);
  }
  for (const [name, r] of rows) if (!spec.properties.some((ps) => ps.name === name)) store.removeProperty(r.rid);
  return e;
}

/** Inside a transaction: brings the entry's properties in line with its (possibly edited) spec. */
export function syncProperties(store: TwinStore, reconciler: Reconciler, e: DeviceEntry): void {
  const spec = e.spec;
  for (const [name, p] of e.props) {
    const ps = spec.properties.find((x) => x.name === name);
    if (!ps) {
      p.retired = true;
      reconciler.cancel(p);
      store.removeProperty(p.rid);
      e.props.delete(name);
    } else if (ps.type !== p.spec.type) {
      p.retired = true;
      reconciler.cancel(p);
      store.resetProperty(p.rid, ps.type);
      e.props.set(name, new PropState(ps, p.rid));
    } else {
      p.spec = ps;
    }
  }
  for (const ps of spec.properties) {
    if (!e.props.has(ps.name)) e.props.set(ps.name, new PropState(ps, store.addProperty(spec.id, ps.name, ps.type)));
  }
  e.hasPush = spec.properties.some((ps) => ps.pushMethod?.mqtt || ps.pushMethod?.http);
}
