// The cloud's Devices and DeviceModels, as MetaManager holds them, turned into devices the gateway
// runs: a DeviceSource (core/device-source.ts) the gateway's catalog merges with its --devices
// files. They are validated by the same core/model code as files, so a malformed Device fails here
// with the field's path, and only that device is refused.
//
// What is read, and why: the `device` and `devicemodel` rows MetaManager committed (ACK class, on
// disk, in the order of the cloud's resourceVersions). KubeEdge's membership message (NO-ACK, lost
// when the link is down) is not a source: the Device object itself says whether it is on this
// node (spec.nodeName), and its delete removes it. So a gateway restarted with the cloud down runs
// exactly the devices it last acknowledged.

import type { DeviceSpecResolved } from '../../core/device.ts';
import { CLOUD_FILE_PREFIX, type DeviceSource, type DeviceSourceLoad } from '../../core/device-source.ts';
import type { Logger } from '../../core/log.ts';
import { loadFromTexts, type Source } from '../../core/model/load.ts';
import type { MetaChange, MetaManager } from './metamanager.ts';

export { CLOUD_FILE_PREFIX };

export interface CloudDevicesOptions {
  meta: MetaManager;
  nodeName: string;
  log: Logger;
  /** Changes that arrive together (a model, then its device) cause one reload; default 100 ms. */
  settleMs?: number;
}

export class CloudDevices implements DeviceSource {
  private readonly meta: MetaManager;
  private readonly nodeName: string;
  private readonly log: Logger;
  private readonly settleMs: number;
  private readonly otherNode = new Set<string>();

  constructor(opts: CloudDevicesOptions) {
    this.meta = opts.meta;
    this.nodeName = opts.nodeName;
    this.log = opts.log;
    this.settleMs = opts.settleMs ?? 100;
  }

  load(): DeviceSourceLoad {
    const sources: Source[] = [];
    for (const type of ['devicemodel', 'device']) {
      // Indented, so an error's line points into a readable copy (`edgetwin`'s debug log, the cloud's event).
      for (const o of this.meta.list(type)) sources.push({ file: `${CLOUD_FILE_PREFIX}${o.key}`, text: JSON.stringify(o.value, null, 2) });
    }
    const load = loadFromTexts(sources);
    const devices: DeviceSpecResolved[] = [];
    for (const d of load.devices) {
      // The cloud sends a node only its own devices; one that names another node (a move whose
      // delete has not arrived yet) is not run here.
      if (d.nodeName !== this.nodeName) {
        if (!this.otherNode.has(d.id)) this.log.info({ device: d.id, nodeName: d.nodeName ?? null, gateway: this.nodeName }, 'cloud device is bound to another node; not run here');
        this.otherNode.add(d.id);
        continue;
      }
      this.otherNode.delete(d.id);
      devices.push({ ...d, managedBy: 'cloud' });
    }
    return { devices, errors: load.errors, warnings: load.warnings };
  }

  onChange(fn: () => void): () => void {
    let timer: NodeJS.Timeout | undefined;
    const listener = (c: MetaChange) => {
      const type = c.op === 'upsert' ? c.object.type : c.type;
      if (type !== 'device' && type !== 'devicemodel') return;
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        fn();
      }, this.settleMs);
    };
    this.meta.on('change', listener);
    return () => {
      clearTimeout(timer);
      this.meta.off('change', listener);
    };
  }
}

/** The device a cloud error concerns: the one it names, else the Device document it was found in. */
export function cloudDeviceOf(where: { device?: string; file?: string }): string | undefined {
  if (where.device) return where.device;
  const file = where.file;
  if (!file?.startsWith(CLOUD_FILE_PREFIX)) return undefined;
  const [ns, type, name] = file.slice(CLOUD_FILE_PREFIX.length).split('/');
  return type === 'device' && ns && name ? `${ns}/${name}` : undefined;
}
