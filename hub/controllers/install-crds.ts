// `edgetwin cloud install-crds`: creates or updates edgetwin's CRDs. A CRD of the same name that
// is already there (KubeEdge's own, typically) is replaced only when ours contains its schema:
// every field it declares exists in ours with the same type, so no object that fits it is pruned
// or refused after. Versions it serves that we do not define are kept (served, not storage).
// Anything else needs --force.
import { stringify } from 'yaml';
import { edgetwinCrds } from './crds.ts';
import { isNotFound, type KubeClient } from './kube.ts';

type Schema = { type?: string; properties?: Record<string, Schema>; items?: Schema; additionalProperties?: Schema | boolean; 'x-kubernetes-preserve-unknown-fields'?: boolean };
type Version = { name: string; served?: boolean; storage?: boolean; schema?: { openAPIV3Schema?: Schema } };
type Crd = { metadata: { name: string; resourceVersion?: string }; spec: { versions: Version[] } };

const CRD_PATH = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/** The CRDs as one multi-document YAML (for `--dry-run | kubectl apply -f -`). */
export function crdsYaml(): string {
  return edgetwinCrds().map((c) => `---\n${stringify(c, { lineWidth: 0 })}`).join('');
}

/** Paths of fields `theirs` declares that `ours` lacks or types differently (empty: ours contains it). */
export function missingFields(ours: Schema | undefined, theirs: Schema | undefined, path = ''): string[] {
  if (!theirs) return [];
  if (!ours) return [path || '.'];
  if (ours['x-kubernetes-preserve-unknown-fields'] && !ours.properties) return [];
  const out: string[] = [];
  if (theirs.type && ours.type && theirs.type !== ours.type) out.push(`${path || '.'} (${theirs.type}, ours ${ours.type})`);
  for (const [k, v] of Object.entries(theirs.properties ?? {})) {
    const mine = ours.properties?.[k];
    if (!mine && ours['x-kubernetes-preserve-unknown-fields']) continue;
    out.push(...missingFields(mine, v, `${path}.${k}`));
  }
  if (theirs.items) out.push(...missingFields(ours.items, theirs.items, `${path}[]`));
  if (typeof theirs.additionalProperties === 'object' && typeof ours.additionalProperties === 'object') {
    out.push(...missingFields(ours.additionalProperties, theirs.additionalProperties, `${path}.*`));
  }
  return out;
}

export interface InstallResult {
  name: string;
  action: 'created' | 'updated' | 'unchanged' | 'refused';
  /** Why it was refused, or what --force overrode. */
  detail?: string;
}

export async function installCrds(kube: KubeClient, opts: { force?: boolean } = {}): Promise<InstallResult[]> {
  const results: InstallResult[] = [];
  for (const crd of edgetwinCrds() as unknown as Crd[]) {
    const name = crd.metadata.name;
    let existing: Crd | undefined;
    try {
      existing = await kube.request<Crd>('GET', `${CRD_PATH}/${name}`);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
    if (!existing) {
      await kube.request('POST', CRD_PATH, { body: crd });
      results.push({ name, action: 'created' });
      continue;
    }
    const missing: string[] = [];
    for (const v of existing.spec.versions) {
      const mine = crd.spec.versions.find((m) => m.name === v.name);
      if (!mine) continue;
      for (const m of missingFields(mine.schema?.openAPIV3Schema, v.schema?.openAPIV3Schema)) missing.push(`${v.name}: ${m}`);
    }
    if (missing.length > 0 && !opts.force) {
      results.push({ name, action: 'refused', detail: `the installed schema has fields ours does not: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? `, and ${missing.length - 8} more` : ''}; objects using them would lose them. Re-run with --force to replace it anyway` });
      continue;
    }
    const kept = existing.spec.versions.filter((v) => !crd.spec.versions.some((m) => m.name === v.name)).map((v) => ({ ...v, storage: false }));
    const next = { ...crd, metadata: { ...crd.metadata, resourceVersion: existing.metadata.resourceVersion }, spec: { ...crd.spec, versions: [...crd.spec.versions, ...kept] } };
    if (sameSpec(existing, next)) {
      results.push({ name, action: 'unchanged' });
      continue;
    }
    await kube.request('PUT', `${CRD_PATH}/${name}`, { body: next });
    results.push({ name, action: 'updated', ...(missing.length > 0 ? { detail: `--force: dropped ${missing.join(', ')}` } : {}) });
  }
  return results;
}

function sameSpec(a: Crd, b: Crd): boolean {
  const pick = (c: Crd) => JSON.stringify(c.spec.versions.map((v) => ({ name: v.name, schema: v.schema, served: v.served, storage: v.storage, sub: (v as Record<string, unknown>).subresources, cols: (v as Record<string, unknown>).additionalPrinterColumns })));
  return pick(a) === pick(b);
}
