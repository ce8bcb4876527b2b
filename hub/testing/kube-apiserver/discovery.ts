// Discovery documents (/api, /apis, /api/v1, /apis/{group}/{version}) and /version, in the
// unaggregated form: kubectl asks for aggregated discovery first and falls back to these when
// the answer is plain application/json, as it does against older servers.
import { apiVersionOf, type Catalog, type ResourceType } from './resources.ts';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export const versionInfo = {
  major: '1', minor: '32', gitVersion: 'v1.32.0-edgetwin-standin', gitCommit: '', gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z', goVersion: 'n/a (kube-apiserver stand-in)', compiler: 'n/a', platform: 'linux/amd64',
};

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

function groupsOf(catalog: Catalog): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const t of catalog.all()) {
    if (!t.group) continue;
    const versions = groups.get(t.group) ?? [];
    if (!versions.includes(t.version)) versions.push(t.version);
    groups.set(t.group, versions);
  }
  return groups;
}

function apiGroup(name: string, versions: string[]) {
  const list = versions.map((v) => ({ groupVersion: `${name}/${v}`, version: v }));
  return { name, versions: list, preferredVersion: list[0] };
}

export function apiGroupList(catalog: Catalog) {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [...groupsOf(catalog)].map(([name, versions]) => apiGroup(name, versions)) };
}

export function apiGroupOf(catalog: Catalog, group: string) {
  const versions = groupsOf(catalog).get(group);
  return versions ? { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(group, versions) } : undefined;
}

export function apiResourceList(catalog: Catalog, groupVersion: string) {
  const types: ResourceType[] = catalog.all().filter((t) => apiVersionOf(t) === groupVersion);
  if (types.length === 0) return undefined;
  const resources = types.flatMap((t) => [
    {
      name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: VERBS,
      ...(t.shortNames.length > 0 ? { shortNames: t.shortNames } : {}),
      ...(t.categories.length > 0 ? { categories: t.categories } : {}),
    },
    ...(t.statusSubresource ? [{ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: ['get', 'patch', 'update'] }] : []),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion, resources };
}
