// The controllers `edgetwin cloud` runs when Kubernetes is configured, and their settings. Each
// controller adds its factory and its settings section here (one line each).
import { edgeControllerFactory } from './edge-controller.ts';
import type { ControllerFactory } from './index.ts';

export interface ControllersConfig {
  [section: string]: unknown;
}

export const CONTROLLERS: ControllerFactory[] = [edgeControllerFactory];
