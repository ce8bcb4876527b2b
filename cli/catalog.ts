// The set of devices the gateway runs, from --devices files and folders and, on a gateway joined
// to a cloud, from the cloud's Devices (a DeviceSource). On reload it keeps the last good version
// of any device whose new version fails to load, so an invalid edit never takes a running device
// down, whichever source it came from.

import { readFile } from 'node:fs/promises';
import type { DeviceSpecResolved } from '../core/device.ts';
import type { DeviceSource } from '../core/device-source.ts';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import { loadDevices } from '../core/model/load.ts';

export interface CatalogLoad {
  devices: DeviceSpecResolved[];
  errors: EdgetwinError[];
  warnings: EdgetwinError[];
  files: string[];
  /** Devices kept at their last good version because their new version failed. */
  kept: string[];
}

/** Protocol-level validation the mapper host adds on top of the model's own. */
export type DeviceCheck = (devices: DeviceSpecResolved[]) => Promise<{ accepted: DeviceSpecResolved[]; errors: EdgetwinError[] }>;

export class DeviceCatalog {
  private current = new Map<string, DeviceSpecResolved>();

  /** `paths` may be a function: asked at every load (a folder that gains its first file joins then). */
  constructor(private readonly paths: string[] | (() => string[]), private readonly check: DeviceCheck, private readonly extra?: DeviceSource) {}

  get devices(): DeviceSpecResolved[] {
    return [...this.current.values()];
  }

  async load(): Promise<CatalogLoad> {
    const model = await loadDevices(typeof this.paths === 'function' ? this.paths() : this.paths);
    const extra = this.extra?.load();
    const fromFiles = new Set(model.devices.map((d) => d.id));
    const sourceErrors: EdgetwinError[] = [];
    const devices = [...model.devices];
    for (const d of extra?.devices ?? []) {
      // A device in the files is the gateway's own: the cloud's copy of the same id does not replace it.
      if (fromFiles.has(d.id)) {
        sourceErrors.push(new EdgetwinError(ErrorCodes.MODEL_DUPLICATE, 'a device of this name is also in the --devices files of this gateway; the file\'s device runs',
          { file: d.source?.file, device: d.id }, 'rename one of them, or remove the device from the gateway\'s files'));
        continue;
      }
      devices.push(d);
    }
    const checked = await this.check(devices);
    const errors = [...model.errors, ...(extra?.errors ?? []), ...sourceErrors, ...checked.errors];
    errors.push(...(await this.emptiedFiles(checked.accepted)));
    const next = new Map(checked.accepted.map((d) => [d.id, d]));
    const kept: string[] = [];
    for (const [id, previous] of this.current) {
      if (next.has(id)) continue;
      if (errors.some((e) => failedHere(e, previous))) {
        next.set(id, previous);
        kept.push(id);
      }
    }
    this.current = next;
    return { devices: this.devices, errors, warnings: [...model.warnings, ...(extra?.warnings ?? [])], files: model.files, kept };
  }

  /**
   * A file that held running devices and now reads empty is far more likely caught mid-save (a
   * writer truncates, then writes) than emptied on purpose, and removing its devices would delete
   * their twins. It counts as a failed load of that file, so its devices keep running; deleting the
   * file removes them.
   */
  private async emptiedFiles(accepted: DeviceSpecResolved[]): Promise<EdgetwinError[]> {
    const still = new Set(accepted.map((d) => d.id));
    const files = new Set<string>();
    for (const [id, previous] of this.current) if (!still.has(id) && previous.source?.file) files.add(previous.source.file);
    const errors: EdgetwinError[] = [];
    for (const file of files) {
      const text = await readFile(file, 'utf8').catch(() => undefined);
      if (text === undefined || text.trim() !== '') continue;
      errors.push(new EdgetwinError(ErrorCodes.CONFIG, 'file is empty; its devices keep running at their last good version', { file },
        'delete the file to remove its devices, or write their YAML back'));
    }
    return errors;
  }
}

/** An error concerns a device when it names it, or when it hit the device's file as a whole. */
function failedHere(error: EdgetwinError, device: DeviceSpecResolved): boolean {
  if (error.where.device) return error.where.device === device.id;
  return error.where.file !== undefined && error.where.file === device.source?.file;
}
