// A gRPC server on a unix socket: the DMI's two sides each serve one (the gateway the device
// manager, a mapper its DeviceMapperService). Handlers are async functions; an error they throw
// becomes a gRPC status with the message a peer (in any language) can show its user.

import { chmodSync, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type * as Grpc from '@grpc/grpc-js';
import { unixTarget } from './grpc-unix.ts';

/** A refusal with its gRPC status code (grpc.status numbers: 3 invalid argument, 5 not found, 9 failed precondition). */
export class GrpcStatusError extends Error {
  override name = 'GrpcStatusError';
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export const GrpcStatus = { INVALID_ARGUMENT: 3, NOT_FOUND: 5, FAILED_PRECONDITION: 9, INTERNAL: 13, UNAVAILABLE: 14 } as const;

export type UnaryHandler = (request: any) => Promise<object> | object; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface UnixGrpcServer {
  readonly socket: string;
  close(): Promise<void>;
}

/**
 * Serves `handlers` for the service `service` (fully qualified, e.g. v1beta1.DeviceManagerService)
 * of the proto at `protoFile` on the unix socket `socket`. A socket file left by a process that
 * died is replaced; the socket is made 0660 (a peer in the same group may connect).
 */
export async function serveUnixGrpc(protoFile: string, socket: string, service: string, handlers: Record<string, UnaryHandler>): Promise<UnixGrpcServer> {
  const grpc: typeof Grpc = await import('@grpc/grpc-js');
  const loader = await import('@grpc/proto-loader');
  const def = await loader.load(protoFile, { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true });
  const pkg = grpc.loadPackageDefinition(def);
  let ctor: unknown = pkg;
  for (const part of service.split('.')) ctor = (ctor as Record<string, unknown>)?.[part];
  const definition = (ctor as { service?: Grpc.ServiceDefinition } | undefined)?.service;
  if (!definition) throw new Error(`service ${service} is not in ${protoFile}`);
  const path = unixTarget(socket).slice('unix://'.length);
  mkdirSync(dirname(path), { recursive: true });
  if (existsSync(path)) {
    if (!statSync(path).isSocket()) throw new Error(`${path} exists and is not a socket: move it away or choose another socket path`);
    rmSync(path);
  }
  const server = new grpc.Server();
  const impl: Grpc.UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    impl[method] = (call: Grpc.ServerUnaryCall<unknown, unknown>, callback: Grpc.sendUnaryData<unknown>) => {
      Promise.resolve()
        .then(() => handler(call.request))
        .then(
          (res) => callback(null, res),
          (err: unknown) => {
            const code = err instanceof GrpcStatusError ? err.code : GrpcStatus.INTERNAL;
            callback({ code, details: (err as Error).message ?? String(err) } as Grpc.ServiceError, null);
          },
        );
    };
  }
  server.addService(definition, impl);
  await new Promise<void>((resolveBind, reject) => {
    server.bindAsync(`unix://${path}`, grpc.ServerCredentials.createInsecure(), (err) => (err ? reject(new Error(`cannot listen on ${path}: ${err.message}`)) : resolveBind()));
  });
  chmodSync(path, 0o660);
  return {
    socket: path,
    close: () =>
      new Promise<void>((done) => {
        server.tryShutdown(() => {
          rmSync(path, { force: true });
          done();
        });
        // A peer stuck in a call must not hold the gateway's shutdown.
        setTimeout(() => server.forceShutdown(), 2000).unref();
      }),
  };
}
