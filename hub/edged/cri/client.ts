// Typed clients for containerd's CRI v1 RuntimeService and ImageService over its unix socket.
// Every call has a deadline: a hung runtime is reported, never waited on forever.

import { locateProto, openUnixGrpc, type UnixGrpcClient } from '../../grpc-unix.ts';
import type {
  Container, ContainerConfig, ContainerState, ContainerStatus, Image, Labels, PodSandbox, PodSandboxConfig,
  PodSandboxState, PodSandboxStatus, RuntimeCondition, VersionResponse,
} from './types.ts';

export * from './types.ts';

const PROTO = () => locateProto(import.meta.url, 'runtime.proto', 'hub/edged/cri/runtime.proto');

export interface CriTimeouts {
  /** Ordinary calls (status, list, create, start). */
  callMs: number;
  /** Pulling an image: KubeEdge's imagePullProgressDeadline is 1 min. */
  pullMs: number;
}

export class RuntimeClient {
  constructor(private readonly rpc: UnixGrpcClient, private readonly timeouts: CriTimeouts) {}

  private call<Res>(method: string, req: unknown, deadlineMs = this.timeouts.callMs): Promise<Res> {
    return this.rpc.call<unknown, Res>(method, req, deadlineMs);
  }

  version(): Promise<VersionResponse> {
    return this.call('Version', { version: 'v1' });
  }

  async runPodSandbox(config: PodSandboxConfig, runtimeHandler = ''): Promise<string> {
    // Setting up the pod network (CNI) can take longer than an ordinary call.
    const r = await this.call<{ podSandboxId: string }>('RunPodSandbox', { config, runtimeHandler }, this.timeouts.callMs * 4);
    return r.podSandboxId;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call('StopPodSandbox', { podSandboxId }, this.timeouts.callMs * 4);
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call('RemovePodSandbox', { podSandboxId }, this.timeouts.callMs * 4);
  }

  async podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus> {
    const r = await this.call<{ status: PodSandboxStatus }>('PodSandboxStatus', { podSandboxId });
    return r.status;
  }

  async listPodSandbox(filter: { id?: string; state?: PodSandboxState; labelSelector?: Labels } = {}): Promise<PodSandbox[]> {
    const r = await this.call<{ items: PodSandbox[] }>('ListPodSandbox', {
      filter: { id: filter.id ?? '', state: filter.state ? { state: filter.state } : null, labelSelector: filter.labelSelector ?? {} },
    });
    return r.items ?? [];
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const r = await this.call<{ containerId: string }>('CreateContainer', { podSandboxId, config, sandboxConfig });
    return r.containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call('StartContainer', { containerId });
  }

  /** Stops with SIGTERM, then SIGKILL after `timeoutSeconds` (the grace period). */
  async stopContainer(containerId: string, timeoutSeconds: number): Promise<void> {
    await this.call('StopContainer', { containerId, timeout: timeoutSeconds }, this.timeouts.callMs + timeoutSeconds * 1000);
  }

  async removeContainer(containerId: string): Promise<void> {
    await this.call('RemoveContainer', { containerId });
  }

  async listContainers(filter: { id?: string; podSandboxId?: string; state?: ContainerState; labelSelector?: Labels } = {}): Promise<Container[]> {
    const r = await this.call<{ containers: Container[] }>('ListContainers', {
      filter: {
        id: filter.id ?? '',
        podSandboxId: filter.podSandboxId ?? '',
        state: filter.state ? { state: filter.state } : null,
        labelSelector: filter.labelSelector ?? {},
      },
    });
    return r.containers ?? [];
  }

  async containerStatus(containerId: string): Promise<ContainerStatus> {
    const r = await this.call<{ status: ContainerStatus }>('ContainerStatus', { containerId });
    return r.status;
  }

  /** Runs `cmd` in the container; `timeoutSeconds` 0 means the runtime's own (none). */
  async execSync(containerId: string, cmd: string[], timeoutSeconds: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    const deadline = timeoutSeconds > 0 ? timeoutSeconds * 1000 + this.timeouts.callMs : this.timeouts.callMs * 4;
    return this.call('ExecSync', { containerId, cmd, timeout: timeoutSeconds }, deadline);
  }

  async status(): Promise<RuntimeCondition[]> {
    const r = await this.call<{ status: { conditions: RuntimeCondition[] } }>('Status', { verbose: false });
    return r.status?.conditions ?? [];
  }
}

export class ImageClient {
  constructor(private readonly rpc: UnixGrpcClient, private readonly timeouts: CriTimeouts) {}

  async listImages(): Promise<Image[]> {
    const r = await this.rpc.call<unknown, { images: Image[] }>('ListImages', { filter: null }, this.timeouts.callMs);
    return r.images ?? [];
  }

  /** The image if present locally, or undefined. */
  async imageStatus(image: string): Promise<Image | undefined> {
    const r = await this.rpc.call<unknown, { image: Image | null }>('ImageStatus', { image: { image }, verbose: false }, this.timeouts.callMs);
    return r.image && r.image.id ? r.image : undefined;
  }

  async pullImage(image: string, sandboxConfig?: PodSandboxConfig): Promise<string> {
    const r = await this.rpc.call<unknown, { imageRef: string }>('PullImage', { image: { image }, sandboxConfig: sandboxConfig ?? null }, this.timeouts.pullMs);
    return r.imageRef;
  }
}

export interface Cri {
  readonly endpoint: string;
  readonly runtime: RuntimeClient;
  readonly images: ImageClient;
  close(): void;
}

export async function connectCri(endpoint: string, timeouts: Partial<CriTimeouts> = {}): Promise<Cri> {
  const t: CriTimeouts = { callMs: timeouts.callMs ?? 10_000, pullMs: timeouts.pullMs ?? 60_000 };
  const clients = await openUnixGrpc(PROTO(), endpoint, ['runtime.v1.RuntimeService', 'runtime.v1.ImageService']);
  const rs = clients['runtime.v1.RuntimeService']!;
  const is = clients['runtime.v1.ImageService']!;
  return {
    endpoint,
    runtime: new RuntimeClient(rs, t),
    images: new ImageClient(is, t),
    close() {
      rs.close();
      is.close();
    },
  };
}
