// Upstream dispatch: each controller registers the edge -> cloud messages it handles. KubeEdge
// routes by substring (`twin/edge_updated`, `state/update`, `membership/detail` to the
// DeviceController; node, nodestatus, lease, podstatus, events to the EdgeController); here each
// route says what it claims with a predicate on the resource as the edge wrote it (without the
// `node/{node}/` CloudHub put in front). A message no route claims goes to the report log, as
// without Kubernetes.
import { trimNode, type Message } from '../message/index.ts';

export interface UpstreamRoute {
  /** Who handles it, for logs. */
  controller: string;
  /** `resource` is the edge's form, e.g. `device/default/thermo-1/twin/edge_updated`. */
  matches(resource: string, operation: string): boolean;
  /** Resolves once the message is safely handled: the edge is answered OK only then. */
  handle(node: string, msg: Message, resource: string): Promise<void>;
}

export class UpstreamDispatch {
  private readonly routes: UpstreamRoute[] = [];

  register(route: UpstreamRoute): void {
    this.routes.push(route);
  }

  /** Hands the message (resource `node/{node}/...`) to the first route that claims it; false when none does. */
  async dispatch(node: string, msg: Message): Promise<boolean> {
    const resource = trimNode(msg.route.resource)?.resource ?? msg.route.resource;
    const route = this.routes.find((r) => r.matches(resource, msg.route.operation));
    if (!route) return false;
    await route.handle(node, msg, resource);
    return true;
  }
}
