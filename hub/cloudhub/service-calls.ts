// Cloud -> edge HTTP calls through the edge's ServiceBus (KubeEdge's router_servicebus message):
// resource `{port}:{path}`, operation the method; the edge answers with the response, matched by
// parent_msg_id. A call fails when the node is not connected, answers with an error, disconnects,
// or is too slow.
import { Groups, newMessage, Operations, Sources, type Message } from '../message/index.ts';

export interface ServiceRequest {
  port: number;
  path: string;
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: Buffer | string;
}

export interface ServiceResponse {
  status: number;
  headers: Record<string, unknown>;
  body: Buffer;
}

interface PendingCall {
  node: string;
  resolve: (r: ServiceResponse) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

/** The calls waiting for their node's answer, by the msg_id of the request. */
export class ServiceCalls {
  private readonly calls = new Map<string, PendingCall>();

  /** Sends the request with `write` (false: the node is not connected) and waits for the answer. */
  start(node: string, req: ServiceRequest, timeoutMs: number, write: (frame: string, operation: string) => boolean): Promise<ServiceResponse> {
    const method = (req.method ?? 'GET').toUpperCase();
    const path = req.path.startsWith('/') ? req.path : `/${req.path}`;
    const body = req.body === undefined ? '' : Buffer.from(req.body).toString('base64');
    const msg = newMessage(
      { source: Sources.ROUTER_SERVICEBUS, group: Groups.USER, operation: method, resource: `${req.port}:${path}` },
      { header: req.headers ?? {}, body, method, url: path },
    );
    return new Promise<ServiceResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(msg.header.msg_id);
        reject(new Error(`node ${node} did not answer ${method} :${req.port}${path} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.calls.set(msg.header.msg_id, { node, resolve, reject, timer });
      if (!write(JSON.stringify(msg), method)) {
        clearTimeout(timer);
        this.calls.delete(msg.header.msg_id);
        reject(new Error(`node ${node} is not connected`));
      }
    });
  }

  /** Whether `parent` is a call of this node: only the node called may answer it. */
  isFor(parent: string | undefined, node: string): boolean {
    return this.calls.get(parent ?? '')?.node === node;
  }

  /** The node's answer (a response or an error) to call `id`. */
  answer(id: string, msg: Message): void {
    const call = this.calls.get(id)!;
    this.calls.delete(id);
    clearTimeout(call.timer);
    if (msg.route.operation === Operations.ERROR) {
      call.reject(new Error(`node ${call.node} refused the call: ${typeof msg.content === 'string' ? msg.content : JSON.stringify(msg.content)}`));
      return;
    }
    const c = (msg.content ?? {}) as { status_code?: unknown; header?: unknown; body?: unknown };
    const status = typeof c.status_code === 'number' ? c.status_code : 0;
    const body = typeof c.body === 'string' ? Buffer.from(c.body, 'base64') : Buffer.alloc(0);
    call.resolve({ status, headers: (c.header && typeof c.header === 'object' ? c.header : {}) as Record<string, unknown>, body });
  }

  /** Fails the node's calls: its session closed before it answered. */
  disconnected(node: string): void {
    for (const [id, call] of this.calls) {
      if (call.node !== node) continue;
      clearTimeout(call.timer);
      this.calls.delete(id);
      call.reject(new Error(`node ${node} disconnected before it answered`));
    }
  }

  /** Fails every call: the cloud is shutting down. */
  close(): void {
    for (const [id, call] of this.calls) {
      clearTimeout(call.timer);
      call.reject(new Error('the cloud is shutting down'));
      this.calls.delete(id);
    }
  }
}
