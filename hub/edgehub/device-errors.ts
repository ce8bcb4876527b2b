// Which of the cloud's Devices the gateway refuses, and why, going up so the cluster shows it
// (DeviceStatus `status.extensions.error` and an Event on the Device). A device's error is sent
// when it appears or changes, and cleared (error null) when the device loads again or is gone.
// What was last sent is kept in cloud.db beside the outbox, so a clear after a restart is not lost.

import type Database from 'better-sqlite3';
import type { EdgetwinError } from '../../core/errors.ts';
import { cloudDeviceOf, CLOUD_FILE_PREFIX } from '../metamanager/devices.ts';
import type { DeviceError, Upstream } from './upstream.ts';

export class DeviceErrorReports {
  private readonly stmts;

  constructor(db: Database.Database, private readonly upstream: Upstream) {
    db.exec('CREATE TABLE IF NOT EXISTS device_errors (device TEXT PRIMARY KEY, error TEXT NOT NULL)');
    this.stmts = {
      all: db.prepare<[], { device: string; error: string }>('SELECT device, error FROM device_errors'),
      put: db.prepare<[string, string]>('INSERT INTO device_errors (device, error) VALUES (?, ?) ON CONFLICT(device) DO UPDATE SET error = excluded.error'),
      clear: db.prepare<[string]>('DELETE FROM device_errors WHERE device = ?'),
    };
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
    const before = new Map(this.stmts.all.all().map((r) => [r.device, r.error]));
    for (const [device, list] of now) {
      const error: DeviceError = { code: list[0]!.code, message: list.map((e) => e.format()).join('; ') };
      if (list[0]!.where.path) error.field = list[0]!.where.path;
      const text = JSON.stringify(error);
      if (before.get(device) === text) continue;
      this.stmts.put.run(device, text);
      this.upstream.deviceError(device, error);
    }
    for (const device of before.keys()) {
      if (now.has(device)) continue;
      this.stmts.clear.run(device);
      this.upstream.deviceError(device, null);
    }
    return [...now.keys()];
  }
}
