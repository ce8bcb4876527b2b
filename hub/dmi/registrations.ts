// Which DMI mappers registered with this gateway, kept in the gateway's database so a restart
// re-dials them and re-sends their devices (KubeEdge lost them on an edgecore restart before
// PR #6597: "fail to get dmi client of protocol X").

import type Database from 'better-sqlite3';

export interface MapperRegistration {
  /** The protocolName its devices use, as the mapper registered it. */
  protocol: string;
  name: string;
  version: string;
  apiVersion: string;
  /** The mapper's own socket (MapperInfo.address). */
  address: string;
  registeredAt: number;
}

export class RegistrationStore {
  constructor(private readonly db: Database.Database) {
    db.exec(`CREATE TABLE IF NOT EXISTS dmi_mappers (
      protocol TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      version TEXT NOT NULL,
      api_version TEXT NOT NULL,
      address TEXT NOT NULL,
      registered_at INTEGER NOT NULL
    )`);
  }

  all(): MapperRegistration[] {
    const rows = this.db.prepare('SELECT protocol, name, version, api_version, address, registered_at FROM dmi_mappers ORDER BY protocol').all() as {
      protocol: string; name: string; version: string; api_version: string; address: string; registered_at: number;
    }[];
    return rows.map((r) => ({ protocol: r.protocol, name: r.name, version: r.version, apiVersion: r.api_version, address: r.address, registeredAt: r.registered_at }));
  }

  /** One mapper per protocol, as in KubeEdge: a new registration of a protocol replaces the old one. */
  put(r: MapperRegistration): void {
    this.db
      .prepare('INSERT OR REPLACE INTO dmi_mappers (protocol, name, version, api_version, address, registered_at) VALUES (?, ?, ?, ?, ?, ?)')
      .run(r.protocol, r.name, r.version, r.apiVersion, r.address, r.registeredAt);
  }
}
