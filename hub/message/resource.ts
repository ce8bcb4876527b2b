// Resource strings of the link. Inside the cloud a resource names its node:
// `node/{node}/{namespace}/{type}/{name}` (cloud/pkg/common/messagelayer/util.go BuildResource).
// CloudHub strips `node/{node}/` before a frame goes down, and puts it back on what comes up,
// taking the node from the authenticated session, never from the frame.

export interface ResourceParts {
  namespace: string;
  type: string;
  name?: string;
  /** Whatever follows the name, e.g. `twin/edge_updated` in `device/{ns}/{name}/twin/edge_updated`. */
  rest?: string;
}

const NODE_PREFIX = 'node/';

/** `node/{node}/{ns}/{type}[/{name}]`, as the cloud's controllers address an object on a node. */
export function cloudResource(node: string, namespace: string, type: string, name?: string): string {
  return `${NODE_PREFIX}${node}/${edgeResource(namespace, type, name)}`;
}

/** `{ns}/{type}[/{name}]`, the resource as the edge sees it on the wire and keys it in MetaManager. */
export function edgeResource(namespace: string, type: string, name?: string): string {
  return name === undefined || name === '' ? `${namespace}/${type}` : `${namespace}/${type}/${name}`;
}

/**
 * The node a cloud-side resource addresses and the resource trimmed for the wire. Returns
 * undefined when the resource does not start with `node/{node}/` (a broadcast or a malformed one).
 */
export function trimNode(resource: string): { node: string; resource: string } | undefined {
  if (!resource.startsWith(NODE_PREFIX)) return undefined;
  const slash = resource.indexOf('/', NODE_PREFIX.length);
  if (slash < 0) return { node: resource.slice(NODE_PREFIX.length), resource: '' };
  const node = resource.slice(NODE_PREFIX.length, slash);
  if (!node) return undefined;
  return { node, resource: resource.slice(slash + 1) };
}

/** What CloudHub does to every upstream frame: the node comes from the session. */
export function prefixNode(node: string, resource: string): string {
  return resource ? `${NODE_PREFIX}${node}/${resource}` : `${NODE_PREFIX}${node}`;
}

/** Splits `{ns}/{type}/{name}[/rest]`. Types KubeEdge names with no namespace use the literal `null`. */
export function parseEdgeResource(resource: string): ResourceParts | undefined {
  const parts = resource.split('/');
  if (parts.length < 2 || !parts[0] || !parts[1]) return undefined;
  const out: ResourceParts = { namespace: parts[0], type: parts[1] };
  if (parts.length > 2 && parts[2]) out.name = parts[2];
  if (parts.length > 3) out.rest = parts.slice(3).join('/');
  return out;
}
