// The dashboard's onboarding, on the local API: browse an OPC UA server or scan and read a BLE
// sensor (the same code as `edgetwin opcua browse` and `edgetwin ble onboard`, cli/proposals.ts),
// show the proposed Device YAML, and add it as a file in `{dataDir}/devices.d/`, which the gateway
// always loads and watches. Wired here, in cli, because the twin's API must not know mappers.
//
// A browse makes the gateway connect wherever the caller says: these are writes behind the same
// guard as a setpoint (token or session beyond loopback, JSON, same origin), and each is logged
// with its target (credentials redacted). docs/security.md has the reasoning.

import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EdgetwinError, ErrorCodes } from '../core/errors.ts';
import type { Logger } from '../core/log.ts';
import { redactUrl } from '../core/redact.ts';
import { HttpError, type RouteTable } from '../twin/api.ts';
import type { CatalogLoad } from './catalog.ts';
import { onboardBle, proposeOpcua, scanBle } from './proposals.ts';

export interface OnboardingOptions {
  dataDir: string;
  /** `{dataDir}/devices.d`. */
  devicesDir: string;
  /** BLE binding of the gateway: `hci` (default) or `sim:<file>`. */
  bleBinding?: string;
  bleAdapter?: string;
  log: Logger;
  /** Loads every device file again (as a file change would) and says what loaded. */
  reload(): Promise<CatalogLoad>;
}

const FILE = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function onboardingRoutes(o: OnboardingOptions): (t: RouteTable) => void {
  const log = o.log.child({ component: 'onboarding' });
  return (t) => {
    t.add({
      name: 'onboarding-opcua',
      url: '/api/v1/onboarding/opcua/browse',
      body: {
        type: 'object',
        required: ['url'],
        additionalProperties: false,
        properties: { url: { type: 'string', pattern: '^opc\\.tcp://' }, filter: { type: 'string' }, depth: { type: 'integer', minimum: 1, maximum: 10 }, name: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9 ._-]{0,62}$' } },
      },
      badBody: 'the body must be {"url": "opc.tcp://host:port", "filter"?: "glob", "depth"?: 1..10, "name"?: "device name"}',
      methods: {
        POST: async (req) => {
          const body = req.body as { url: string; filter?: string; depth?: number; name?: string };
          log.info({ url: redactUrl(body.url), from: req.socket.remoteAddress }, 'onboarding: OPC UA browse asked from the API');
          const found = await proposeOpcua({ ...body, timeout: 10 }, o.dataDir).catch((err: Error) => {
            throw new HttpError(502, ErrorCodes.DISCOVERY, `browsing ${redactUrl(body.url)} failed: ${err.message}`);
          });
          return [200, { name: found.name, variables: found.variables.length, yaml: found.yaml }];
        },
      },
    });
    t.add({
      name: 'onboarding-ble-scan',
      url: '/api/v1/onboarding/ble/scan',
      body: { type: 'object', additionalProperties: false, properties: { seconds: { type: 'number', exclusiveMinimum: 0, maximum: 60 } } },
      badBody: 'the body must be {"seconds"?: 0..60}',
      methods: {
        POST: async (req) => {
          const seconds = (req.body as { seconds?: number }).seconds ?? 5;
          log.info({ seconds }, 'onboarding: BLE scan asked from the API');
          const devices = await scanBle(o.bleBinding ?? 'hci', o.bleAdapter ?? 'hci0', { seconds }).catch((err: Error) => {
            throw new HttpError(502, ErrorCodes.DISCOVERY, `the BLE scan failed: ${err.message}`);
          });
          return [200, { devices }];
        },
      },
    });
    t.add({
      name: 'onboarding-ble-onboard',
      url: '/api/v1/onboarding/ble/onboard',
      body: { type: 'object', required: ['address'], additionalProperties: false, properties: { address: { type: 'string', pattern: '^[0-9A-Fa-f:]{12,17}$' } } },
      badBody: 'the body must be {"address": "aa:bb:cc:dd:ee:ff"}',
      methods: {
        POST: async (req) => {
          const { address } = req.body as { address: string };
          log.info({ address }, 'onboarding: BLE onboard asked from the API');
          const result = await onboardBle(o.bleBinding ?? 'hci', o.bleAdapter ?? 'hci0', address, 15_000).catch((err: Error) => {
            throw new HttpError(502, ErrorCodes.DISCOVERY, `onboarding ${address} failed: ${err.message}`);
          });
          return [200, { yaml: result.yaml }];
        },
      },
    });
    t.add({
      name: 'onboarding-add',
      url: '/api/v1/onboarding/devices',
      body: { type: 'object', required: ['file', 'yaml'], additionalProperties: false, properties: { file: { type: 'string' }, yaml: { type: 'string', maxLength: 256 * 1024 } } },
      badBody: 'the body must be {"file": "<name>", "yaml": "<DeviceModel and Device documents>"}',
      methods: {
        POST: async (req) => {
          const body = req.body as { file: string; yaml: string };
          const base = body.file.replace(/\.ya?ml$/i, '').toLowerCase();
          if (!FILE.test(base)) throw new HttpError(400, ErrorCodes.BAD_REQUEST, `the file name "${body.file}" must be lower-case letters, digits, ".", "_" or "-" (up to 63)`);
          const file = join(o.devicesDir, `${base}.yaml`);
          if (existsSync(file)) throw new EdgetwinError(ErrorCodes.CONFLICT, 'a device file of that name exists already', { file }, 'pick another name, or edit or delete that file');
          writeFileSync(file, body.yaml, { mode: 0o600 });
          // Loaded with every other file, so a Device may use a model defined elsewhere; a file
          // that does not load is taken back, and the gateway keeps what it ran.
          const load = await o.reload();
          const mine = load.errors.filter((e) => e.where.file === file);
          const added = load.devices.filter((d) => d.source?.file === file).map((d) => d.id);
          if (mine.length || added.length === 0) {
            rmSync(file, { force: true });
            await o.reload();
            const why = mine.length ? mine.map((e) => e.format()).join('; ') : 'it holds no Device';
            throw new HttpError(400, ErrorCodes.MODEL_SCHEMA, `the proposal was not added: ${why}`);
          }
          log.info({ file, devices: added }, 'onboarding: device file added');
          return [200, { file, devices: added }];
        },
      },
    });
  };
}
