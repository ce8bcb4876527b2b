// A small Device-like CRD pair for the kube-apiserver stand-in's client tests (the real
// deploy/crds/ arrive with the DeviceController): TestDevice, with printer columns and a status
// subresource, and TestDeviceStatus, created owned by its TestDevice.
import { spawn } from 'node:child_process';

export const GROUP = 'fixtures.edgetwin.io';
export const VERSION = 'v1beta1';

export const TEST_DEVICE_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `testdevices.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'testdevices', singular: 'testdevice', kind: 'TestDevice', shortNames: ['tdev'] },
    versions: [{
      name: VERSION, served: true, storage: true, subresources: { status: {} },
      additionalPrinterColumns: [
        { name: 'Node', type: 'string', jsonPath: '.spec.nodeName' },
        { name: 'Protocol', type: 'string', jsonPath: '.spec.protocol.name' },
        { name: 'Model', type: 'string', jsonPath: '.spec.deviceModelRef.name', priority: 1 },
        { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
      ],
      schema: {
        openAPIV3Schema: {
          type: 'object',
          properties: {
            spec: {
              type: 'object',
              required: ['nodeName'],
              properties: {
                nodeName: { type: 'string' },
                deviceModelRef: { type: 'object', properties: { name: { type: 'string' } } },
                protocol: {
                  type: 'object',
                  properties: { name: { type: 'string' }, configData: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
                },
                properties: {
                  type: 'array',
                  items: {
                    type: 'object', required: ['name'],
                    properties: { name: { type: 'string' }, desired: { type: 'object', properties: { value: { type: 'string' } } } },
                  },
                },
              },
            },
            status: { type: 'object', properties: { state: { type: 'string' } } },
          },
        },
      },
    }],
  },
};

export const TEST_DEVICE_STATUS_CRD = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: `testdevicestatuses.${GROUP}` },
  spec: {
    group: GROUP,
    scope: 'Namespaced',
    names: { plural: 'testdevicestatuses', singular: 'testdevicestatus', kind: 'TestDeviceStatus' },
    versions: [{
      name: VERSION, served: true, storage: true, subresources: { status: {} },
      schema: { openAPIV3Schema: { type: 'object', properties: { status: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } } },
    }],
  },
};

export function testDevice(name: string, nodeName: string, more: Record<string, unknown> = {}) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'TestDevice',
    metadata: { name, namespace: 'default' },
    spec: { nodeName, deviceModelRef: { name: 'thermometer' }, protocol: { name: 'modbus', configData: { slaveId: 1 } }, properties: [{ name: 'setpoint', desired: { value: '20' } }], ...more },
  };
}

export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a client binary to its end, with a deadline that only bounds a hang. */
export function run(cmd: string, args: string[], env: Record<string, string>, input?: string, timeoutMs = 60_000): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}
