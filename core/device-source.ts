// A source of devices besides the --devices files: the cloud's Devices and DeviceModels as the
// gateway holds them (hub/metamanager). The gateway's catalog merges it with the files; the
// source itself knows nothing of the twin or the mappers, and they know nothing of it.

import type { DeviceSpecResolved } from './device.ts';
import type { EdgetwinError } from './errors.ts';

/**
 * Prefix of the pseudo file name that errors about a cloud object carry: `cloud:{ns}/device/{name}`
 * (MetaManager's key), so a message says which object and field, as a file's says file:line.
 */
export const CLOUD_FILE_PREFIX = 'cloud:';

export interface DeviceSourceLoad {
  /** Devices that passed the model's validation and are bound to this node. */
  devices: DeviceSpecResolved[];
  /** Each names the device (where.device) or the document (where.file) it concerns. */
  errors: EdgetwinError[];
  warnings: EdgetwinError[];
}

export interface DeviceSource {
  /** What this source holds now; cheap enough to call on every reload. */
  load(): DeviceSourceLoad;
  /** Tells when what load() returns changed; returns the function that stops telling. */
  onChange(fn: () => void): () => void;
}
