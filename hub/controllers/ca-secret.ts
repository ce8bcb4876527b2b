// The cloud's CA (and its revocation and issued lists) in the Secret `edgetwin-ca` of the cloud's
// namespace, when Kubernetes is configured: a cloud pod that moves to another machine, and
// `edgetwin cloud token` run from any directory with the same kubeconfig, find the same CA.
// One Secret, one data key per CaStore key; updates use the Secret's resourceVersion, so two
// writers never silently overwrite each other.
import type { CaStore } from '../join/store.ts';
import { collectionPath, isConflict, isNotFound, objectPath, type KubeClient } from './kube.ts';

export const CA_SECRET = 'edgetwin-ca';

interface Secret {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  type?: string;
  data?: Record<string, string>;
}

export class SecretCaStore implements CaStore {
  readonly where: string;

  constructor(private readonly kube: KubeClient, private readonly namespace: string, private readonly name = CA_SECRET) {
    this.where = `Secret ${namespace}/${name}`;
  }

  async get(key: string): Promise<Buffer | undefined> {
    const s = await this.read();
    const v = s?.data?.[key];
    return v === undefined ? undefined : Buffer.from(v, 'base64');
  }

  async put(key: string, value: Buffer): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const s = await this.read();
      try {
        if (!s) {
          await this.ensureNamespace();
          await this.kube.request('POST', collectionPath('', 'v1', 'secrets', this.namespace), {
            body: { apiVersion: 'v1', kind: 'Secret', type: 'Opaque', metadata: { name: this.name, namespace: this.namespace, labels: { 'app.kubernetes.io/part-of': 'edgetwin' } }, data: { [key]: value.toString('base64') } },
          });
        } else {
          await this.kube.request('PUT', objectPath('', 'v1', 'secrets', this.namespace, this.name), {
            body: { ...s, data: { ...s.data, [key]: value.toString('base64') } },
          });
        }
        return;
      } catch (err) {
        // Someone else wrote in between: read again and re-apply this key.
        if (!isConflict(err)) throw new Error(`cannot write ${key} into ${this.where}: ${(err as Error).message}`);
      }
    }
    throw new Error(`cannot write ${key} into ${this.where}: it kept changing under five attempts`);
  }

  private async read(): Promise<Secret | undefined> {
    try {
      return await this.kube.request<Secret>('GET', objectPath('', 'v1', 'secrets', this.namespace, this.name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw new Error(`cannot read ${this.where}: ${(err as Error).message}`);
    }
  }

  private async ensureNamespace(): Promise<void> {
    try {
      await this.kube.request('GET', objectPath('', 'v1', 'namespaces', undefined, this.namespace));
    } catch (err) {
      if (!isNotFound(err)) throw err;
      try {
        await this.kube.request('POST', collectionPath('', 'v1', 'namespaces'), { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: this.namespace } } });
      } catch (e) {
        if (!isConflict(e)) throw e;
      }
    }
  }
}
