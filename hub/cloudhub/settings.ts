// CloudHub's settings (the `cloudhub` section of the cloud's configuration) and their defaults.
import { DEFAULT_MAX_FRAME_BYTES } from '../message/index.ts';
import { DEFAULT_QUEUE_OPTIONS, type QueueOptions } from './queue.ts';

export interface CloudHubSettings {
  /** Silence after which a session is dropped (KubeEdge: 30 s; the edge sends keepalive every 15 s). */
  keepaliveTimeoutMs: number;
  maxFrameBytes: number;
  /** Sessions served at once; a node beyond it is refused. */
  nodeLimit: number;
  /** The certificate's CN must name the node of the `node_id` header (KubeEdge's authorization.enable). */
  nodeAuthorization: boolean;
  resend: QueueOptions;
}

export const DEFAULT_CLOUDHUB_SETTINGS: CloudHubSettings = {
  keepaliveTimeoutMs: 30_000,
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  nodeLimit: 10_000,
  nodeAuthorization: true,
  resend: DEFAULT_QUEUE_OPTIONS,
};
