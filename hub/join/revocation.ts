// Which nodes were revoked (`edgetwin cloud revoke <node>`, for a stolen gateway) and which were
// issued a certificate. Revoking a node refuses every certificate issued to it up to that moment:
// at CloudHub on connect, on /edge.crt rotation, and for live sessions (the running cloud re-reads
// the list). A node that joins again afterwards with a new token gets a certificate that works.
// Two keys, each written by one process only: `revoked.json` by the revoke command, `issued.json`
// by the cloud, so the two never overwrite each other's changes.
import type { CaStore } from './store.ts';

export const REVOKED_KEY = 'revoked.json';
export const ISSUED_KEY = 'issued.json';

type Dates = Record<string, string>;

async function readDates(store: CaStore, key: string): Promise<Dates> {
  const raw = await store.get(key);
  if (!raw) return {};
  try {
    const v = JSON.parse(raw.toString('utf8')) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Dates;
  } catch {
    // fall through to the error below
  }
  throw new Error(`${store.where}/${key} is not a JSON object of node names to times: fix or remove it`);
}

export class Revocations {
  private revoked: Dates = {};
  private raw = '';

  constructor(private readonly store: CaStore) {}

  /** Re-reads the list; true when it changed since the last read. */
  async reload(): Promise<boolean> {
    const next = await readDates(this.store, REVOKED_KEY);
    const raw = JSON.stringify(next);
    const changed = raw !== this.raw;
    this.revoked = next;
    this.raw = raw;
    return changed;
  }

  /** When `node` was revoked, if it was. */
  revokedAt(node: string): Date | undefined {
    const at = this.revoked[node];
    return at ? new Date(at) : undefined;
  }

  /** True when a certificate of `node` issued at `notBefore` is refused. */
  refuses(node: string, notBefore: Date): boolean {
    const at = this.revokedAt(node);
    return at !== undefined && notBefore.getTime() <= at.getTime();
  }

  async revoke(node: string, at = new Date()): Promise<void> {
    await this.reload();
    this.revoked[node] = at.toISOString();
    await this.store.put(REVOKED_KEY, Buffer.from(`${JSON.stringify(this.revoked, null, 2)}\n`));
    this.raw = JSON.stringify(this.revoked);
  }
}

/** The nodes this cloud issued a certificate to, with the last one's expiry (`GET /node/{name}`). */
export class IssuedNodes {
  private issued: Dates = {};

  constructor(private readonly store: CaStore) {}

  async load(): Promise<void> {
    this.issued = await readDates(this.store, ISSUED_KEY);
  }

  has(node: string): boolean {
    return Object.hasOwn(this.issued, node);
  }

  /** Every node this cloud issued a certificate to. */
  nodes(): string[] {
    return Object.keys(this.issued);
  }

  async record(node: string, notAfter: Date): Promise<void> {
    this.issued[node] = notAfter.toISOString();
    await this.store.put(ISSUED_KEY, Buffer.from(`${JSON.stringify(this.issued, null, 2)}\n`));
  }
}
