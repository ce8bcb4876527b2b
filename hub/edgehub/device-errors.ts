// Which of the cloud's Devices the gateway refuses, and why, going up so the cluster shows it
// (DeviceStatus `status.extensions.error` and an Event on the Device). On the wire this is the
// device's `state/update` with state `unhealthy` and `error: {code, message, field}` (the
// DeviceController's contract, docs/cloud.md); a later state/update without error clears it.
// While a device is in error its twin's own states are held back (a device kept at its last good
// version still runs, and its "online" must not clear the error of the version that failed).
// What was last sent is kept in cloud.db beside the outbox, so a clear after a restart is not lost.

import type Database from 'better-sqlite3';
import type { EdgetwinError } from '../../core/errors.ts';
import { cloudDeviceOf, CLOUD_FILE_PREFIX } from '../metamanager/devices.ts';
import type { DeviceError, Upstream } from './upstream.ts';

/** The twin's current state of a device, to send when its error clears. */
export type CurrentState = (device: string) => { state: string; lastOnlineTime?: string } | undefined;

export class DeviceErrorReports {
  private readonly stmts;
  private readonly current = new Map<string, string>();

  /**
   * `stateOf`: the twin's state of a device, sent when its error clears. `stillSent`: whether the
   * cloud still sends the device (it is in MetaManager); the error of a deleted Device is forgotten
   * without a message, as its DeviceStatus goes with it.
   */
  constructor(db: Database.Database, private readonly upstream: Upstream, private readonly stateOf: CurrentState, private readonly stillSent: (device: string) => boolean = () => true) {
    db.exec('CREATE TABLE IF NOT EXISTS device_errors (device TEXT PRIMARY KEY, error TEXT NOT NULL)');
    this.stmts = {
      all: db.prepare<[], { device: string; error: string }>('SELECT device, error FROM device_errors'),
      put: db.prepare<[string, string]>('INSERT INTO device_errors (device, error) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET error = excluded.error'),
      clear: db.prepare<[string]>('DELETE FROM device_errors WHERE device = ?'),
    };
    for (const r of this.stmts.all.all()) this.current.set(r.device, r.error);
  }

  /** True while the device's error is what the cluster should see instead of its twin state. */
  has(device: string): boolean {
    return this.current.has(device);
  }

  /** After each load of the catalog: every error about a cloud device, by device. Returns the devices now in error. */
  report(errors: readonly EdgetwinError[]): string[] {
    const now = new Map<string, EdgetwinError[]>();
    for (const e of errors) {
      if (!e.where.file?.startsWith(CLOUD_FILE_PREFIX)) continue;
      const device = cloudDeviceOf(e.where);
      if (!device) continue;
      const list = now.get(device) ?? [];
      list.push(e);
      now.set(device, list);
    }
    for (const [device, list] of now) {
      const error: DeviceError = { code: list[0]!.code, message: list.map((e) => e.format()).join('; ') };
      if (list[0]!.where.path) error.field = list[0]!.where.path;
      const text = JSON.stringify(error);
      if (this.current.get(device) === text) continue;
      this.stmts.put.run(device, text);
      this.current.set(device, text);
      this.upstream.state(device, 'unhealthy', undefined, error);
    }
    for (const device of [...this.current.keys()]) {
      if (now.has(device)) continue;
      this.stmts.clear.run(device);
      this.current.delete(device);
      if (!this.stillSent(device)) continue;
      // Cleared: the device's own state again (unknown when it is gone or not yet connected).
      const s = this.stateOf(device);
      this.upstream.state(device, s?.state ?? 'unknown', s?.lastOnlineTime);
    }
    return [...now.keys()];
  }
}
