// ServiceBus, edge side: the cloud calls an HTTP server on the gateway's loopback
// (edge/pkg/servicebus). The request arrives as resource `{port}:{path}`, operation = the HTTP
// method, content HTTPRequest{header, body(base64), method, url}; the answer goes back as an
// `upload` with content HTTPResponse{header, status_code, body(base64)} and parent_msg_id = the
// request's id.
//
// Unlike KubeEdge, which calls any port the resource names, edgetwin calls only the ports listed
// in `cloud.serviceBus.allowedPorts` (none by default): anything else is answered 403 without a
// connection being made, so a compromised or mistaken cloud cannot reach every loopback service
// of the gateway.

import { request } from 'node:http';
import type { Logger } from '../../core/log.ts';
import { Groups, newMessage, Operations, Sources, type Message } from '../message/index.ts';

export interface HttpRequestContent {
  header?: Record<string, string | string[]>;
  body?: string | null;
  method?: string;
  url?: string;
}

export interface HttpResponseContent {
  header: Record<string, string | string[]>;
  status_code: number;
  body: string;
}

export interface ServiceBusOptions {
  allowedPorts: readonly number[];
  log: Logger;
  /** Default 10 s, as KubeEdge's edge HTTP client. */
  timeoutMs?: number;
  /** Default 5 MiB, as KubeEdge's response limit. */
  maxBodyBytes?: number;
}

export class ServiceBus {
  private readonly allowed: Set<number>;
  private readonly timeoutMs: number;
  private readonly maxBodyBytes: number;

  constructor(private readonly opts: ServiceBusOptions) {
    this.allowed = new Set(opts.allowedPorts);
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxBodyBytes = opts.maxBodyBytes ?? 5 * 1024 * 1024;
  }

  /** True for the messages this module serves (group `user`, from the cloud's router). */
  static handles(msg: Message): boolean {
    return msg.route.group === Groups.USER && /^\d+:/.test(msg.route.resource);
  }

  /** Performs the call and returns the reply to send up; never throws. */
  async call(msg: Message): Promise<Message<HttpResponseContent>> {
    const colon = msg.route.resource.indexOf(':');
    const port = Number(msg.route.resource.slice(0, colon));
    let path = msg.route.resource.slice(colon + 1) || '/';
    if (!path.startsWith('/')) path = `/${path}`;
    const method = msg.route.operation.toUpperCase();
    const reply = (content: HttpResponseContent) =>
      newMessage({ source: Sources.SERVICEBUS, group: Groups.USER, operation: Operations.UPLOAD, resource: '' }, content, { parentId: msg.header.msg_id });
    if (!Number.isInteger(port) || port < 1 || port > 65535 || !this.allowed.has(port)) {
      this.opts.log.warn({ port, path, method }, 'servicebus: refused a cloud call to a port not in cloud.serviceBus.allowedPorts');
      return reply(failure(403, `port ${port} is not in cloud.serviceBus.allowedPorts of this gateway; add it there to let the cloud call it`));
    }
    const content = (msg.content ?? {}) as HttpRequestContent;
    const body = typeof content.body === 'string' && content.body ? Buffer.from(content.body, 'base64') : undefined;
    try {
      return reply(await this.forward(port, path, method, content.header ?? {}, body));
    } catch (err) {
      this.opts.log.warn({ port, path, method, err: (err as Error).message }, 'servicebus: the local call failed');
      return reply(failure(502, `calling http://127.0.0.1:${port}${path} failed: ${(err as Error).message}`));
    }
  }

  private forward(port: number, path: string, method: string, header: Record<string, string | string[]>, body: Buffer | undefined): Promise<HttpResponseContent> {
    return new Promise((resolve, reject) => {
      // Settles once: a cut-off or timed-out call also ends in socket errors nobody needs to see.
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      const headers: Record<string, string | string[]> = { ...header };
      if (body) headers['content-length'] = String(body.length);
      const req = request({ host: '127.0.0.1', port, path, method, headers, timeout: this.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > this.maxBodyBytes) {
            fail(new Error(`the response body is over ${this.maxBodyBytes} bytes`));
            req.destroy();
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) out[k] = v;
          resolve({ header: out, status_code: res.statusCode ?? 500, body: Buffer.concat(chunks).toString('base64') });
        });
        res.on('error', fail);
      });
      req.on('timeout', () => {
        fail(new Error(`no answer within ${this.timeoutMs} ms`));
        req.destroy();
      });
      req.on('error', fail);
      req.end(body);
    });
  }
}

function failure(status: number, text: string): HttpResponseContent {
  return { header: { Server: 'edgetwin', 'Content-Type': 'text/plain' }, status_code: status, body: Buffer.from(text).toString('base64') };
}
