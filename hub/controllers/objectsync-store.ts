// The AckRecordStore on KubeEdge's reliable-sync objects: what node N acknowledged of object U is
// an ObjectSync `{N}.{U}` in U's namespace (a ClusterObjectSync for a cluster-scoped object) with
// spec {objectAPIVersion, objectKind, objectName} and status.objectResourceVersion. All of them
// are read once at start (the cloud is their only writer) and kept in memory; a put writes
// through before it resolves, so a cloud killed with -9 and started again reads back exactly
// what each node has, and resends only the rest. An ACKed delete deletes the ObjectSync (as
// KubeEdge does) and leaves a tombstone in memory for this process's lifetime.
import type { AckRecord, AckRecordStore, ObjectRef } from '../cloudhub/ack-store.ts';
import type { Logger } from '../../core/log.ts';
import { collectionPath, isConflict, isNotFound, objectPath, type KubeClient } from './kube.ts';
import { SYNC_GROUP, SYNC_VERSION } from './crds.ts';

interface SyncObject {
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec?: { objectAPIVersion?: string; objectKind?: string; objectName?: string };
  status?: { objectResourceVersion?: string };
}

interface Entry {
  namespace?: string;
  record: AckRecord;
}

/** Object names are DNS subdomains: a key that cannot be one (no uid) is kept in memory only. */
const NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

export class ObjectSyncAckStore implements AckRecordStore {
  private readonly entries = new Map<string, Entry>();
  /** Writes to ObjectSync objects, for tests and metrics. */
  writes = 0;

  constructor(private readonly kube: KubeClient, private readonly log: Logger) {}

  /** Reads every ObjectSync and ClusterObjectSync. Fails with a message naming the missing CRDs. */
  async load(): Promise<void> {
    for (const [plural, clustered] of [['objectsyncs', false], ['clusterobjectsyncs', true]] as const) {
      let list: { items: SyncObject[] };
      try {
        list = await this.kube.request('GET', collectionPath(SYNC_GROUP, SYNC_VERSION, plural));
      } catch (err) {
        if (isNotFound(err)) throw new Error(`the cluster does not serve ${plural}.${SYNC_GROUP}: install the CRDs first (edgetwin cloud install-crds, or kubectl apply -f deploy/crds/)`);
        throw err;
      }
      for (const o of list.items) {
        const ref: ObjectRef = {};
        if (o.spec?.objectAPIVersion) ref.apiVersion = o.spec.objectAPIVersion;
        if (o.spec?.objectKind) ref.kind = o.spec.objectKind;
        if (o.spec?.objectName) ref.name = o.spec.objectName;
        if (!clustered && o.metadata.namespace) ref.namespace = o.metadata.namespace;
        const record: AckRecord = { deleted: false, object: ref };
        if (o.status?.objectResourceVersion) record.resourceVersion = o.status.objectResourceVersion;
        this.entries.set(o.metadata.name, { ...(clustered ? {} : { namespace: o.metadata.namespace }), record });
      }
    }
  }

  async get(node: string, key: string): Promise<AckRecord | undefined> {
    return this.entries.get(`${node}.${key}`)?.record;
  }

  async list(node: string): Promise<Map<string, AckRecord>> {
    const out = new Map<string, AckRecord>();
    const prefix = `${node}.`;
    for (const [name, e] of this.entries) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), e.record);
    return out;
  }

  async put(node: string, key: string, record: AckRecord): Promise<void> {
    const name = `${node}.${key}`;
    const previous = this.entries.get(name);
    const namespace = record.object?.namespace && record.object.namespace !== 'null' ? record.object.namespace : previous?.namespace;
    if (!NAME.test(name) || name.length > 253) {
      this.entries.set(name, { ...(namespace ? { namespace } : {}), record });
      return;
    }
    const [plural, ns] = namespace ? ['objectsyncs', namespace] : ['clusterobjectsyncs', undefined];
    const path = objectPath(SYNC_GROUP, SYNC_VERSION, plural, ns, name);
    if (record.deleted) {
      try {
        this.writes++;
        await this.kube.request('DELETE', path);
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      this.entries.set(name, { ...(namespace ? { namespace } : {}), record });
      return;
    }
    const status = { status: { objectResourceVersion: record.resourceVersion ?? '0' } };
    if (!previous || previous.record.deleted) {
      const body = {
        apiVersion: `${SYNC_GROUP}/${SYNC_VERSION}`,
        kind: namespace ? 'ObjectSync' : 'ClusterObjectSync',
        metadata: { name, ...(ns ? { namespace: ns } : {}), labels: { 'edgetwin.io/node': node } },
        spec: { objectAPIVersion: record.object?.apiVersion ?? '', objectKind: record.object?.kind ?? '', objectName: record.object?.name ?? '' },
      };
      try {
        this.writes++;
        await this.kube.request('POST', collectionPath(SYNC_GROUP, SYNC_VERSION, plural, ns), { body });
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    this.writes++;
    // The status subresource: a create drops status, so the acknowledged version is a second write.
    await this.kube.request('PATCH', `${path}/status`, { body: status, contentType: 'application/merge-patch+json' });
    this.entries.set(name, { ...(namespace ? { namespace } : {}), record: { ...record, object: { ...previous?.record.object, ...record.object } } });
  }

  close(): void {
    this.log.debug({ entries: this.entries.size }, 'ObjectSync store closed');
  }
}
