// The controllers `edgetwin cloud` runs when Kubernetes is configured, and their settings. Each
// controller adds its factory and its settings section here (one line each).
import { DeviceController, type DeviceControllerSettings } from './devices/controller.ts';
import type { StatusWriterSettings } from './devices/status-writer.ts';
import { edgeControllerFactory } from './edge-controller.ts';
import type { ControllerFactory } from './index.ts';

export interface ControllersConfig {
  /** The DeviceController (config file section `devices:`). */
  devices?: Partial<Omit<DeviceControllerSettings, 'statusWriter'>> & { statusWriter?: Partial<StatusWriterSettings> };
  [section: string]: unknown;
}

export const CONTROLLERS: ControllerFactory[] = [
  (ctx) => new DeviceController(ctx, ctx.config.devices as Partial<DeviceControllerSettings> | undefined),
  edgeControllerFactory,
];
