// gRPC over a unix socket, shared by edged (CRI) and the DMI: loads a .proto shipped beside the
// code, and turns unary calls into promises with a deadline, so a runtime that hangs becomes an
// error value instead of a stuck caller. @grpc/grpc-js loads only when a caller needs it.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as Grpc from '@grpc/grpc-js';

export type GrpcModule = typeof Grpc;

export interface UnixGrpcClient {
  /** One unary call; rejects with a GrpcCallError after `deadlineMs`. */
  call<Req, Res>(method: string, request: Req, deadlineMs?: number): Promise<Res>;
  close(): void;
}

export class GrpcCallError extends Error {
  override name = 'GrpcCallError';
  constructor(
    readonly method: string,
    readonly code: number,
    readonly details: string,
    readonly address: string,
  ) {
    super(`${method} on ${address}: ${details}`);
  }
  /** The endpoint is not there or not answering (socket missing, daemon down, deadline). */
  get unavailable(): boolean {
    return this.code === 14 || this.code === 4;
  }
  get notFound(): boolean {
    return this.code === 5 || /not ?found/i.test(this.details);
  }
}

/**
 * Finds a .proto that ships in the package: beside the source module when run from TypeScript,
 * or under the package root (`relFromRoot`) when run from the dist/ bundle.
 */
export function locateProto(moduleUrl: string, fileName: string, relFromRoot: string): string {
  const here = dirname(fileURLToPath(moduleUrl));
  const candidates = [join(here, fileName), join(here, '..', relFromRoot), join(here, '..', '..', relFromRoot), join(here, '..', '..', '..', relFromRoot)];
  for (const c of candidates) if (existsSync(c)) return c;
  throw new Error(`cannot find ${relFromRoot} (looked in ${candidates.join(', ')}); the package is incomplete, reinstall edgetwin`);
}

/** `unix:///run/x.sock` or a bare absolute path, as the address grpc-js understands. */
export function unixTarget(endpoint: string): string {
  if (endpoint.startsWith('unix://')) return endpoint;
  if (endpoint.startsWith('/')) return `unix://${endpoint}`;
  throw new Error(`"${endpoint}" is not a unix socket endpoint: write unix:///path/to.sock`);
}

/**
 * Opens clients for `services` (fully-qualified names, e.g. runtime.v1.RuntimeService) of the
 * proto at `protoFile`. Returns one UnixGrpcClient per service.
 */
export async function openUnixGrpc(protoFile: string, endpoint: string, services: string[]): Promise<Record<string, UnixGrpcClient>> {
  const grpc: GrpcModule = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const def = await loader.load(protoFile, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def);
  const target = unixTarget(endpoint);
  const out: Record<string, UnixGrpcClient> = {};
  for (const fq of services) {
    let ctor: unknown = pkg;
    for (const part of fq.split('.')) ctor = (ctor as Record<string, unknown>)?.[part];
    if (typeof ctor !== 'function') throw new Error(`service ${fq} is not in ${protoFile}`);
    const client = new (ctor as typeof Grpc.Client)(target, grpc.credentials.createInsecure(), {
      // A big image list or exec output must not fail on grpc-js's 4 MiB default.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    }) as Grpc.Client & Record<string, (req: unknown, md: Grpc.Metadata, opts: Grpc.CallOptions, cb: (err: Grpc.ServiceError | null, res: unknown) => void) => void>;
    out[fq] = {
      call<Req, Res>(method: string, request: Req, deadlineMs = 30_000): Promise<Res> {
        return new Promise<Res>((resolve, reject) => {
          const fn = client[method];
          if (typeof fn !== 'function') {
            reject(new Error(`method ${method} is not in service ${fq}`));
            return;
          }
          fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (err, res) => {
            if (err) reject(new GrpcCallError(`${fq.split('.').pop()}.${method}`, err.code, err.details || err.message, target));
            else resolve(res as Res);
          });
        });
      },
      close() {
        client.close();
      },
    };
  }
  return out;
}
