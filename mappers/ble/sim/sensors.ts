// Simulated sensors the tests and the conformance simulator share: an environmental sensor with
// Device Information, Battery and Environmental Sensing; a TI CC2541-style tag whose value needs
// KubeEdge's dataConverter; and an advertisement-only beacon.

import type { SimPeripheralSpec, SimWorldSpec } from './world.ts';

export const ENV_ADDRESS = 'C4:7C:8D:6A:11:01';
export const TAG_ADDRESS = 'B0:B4:48:C9:22:02';
export const BEACON_ADDRESS = 'E2:15:3A:00:33:03';
export const CONTROL_SERVICE = 'f000aa00-0451-4000-b000-000000000000';
export const CONTROL_CHAR = 'f000aa01-0451-4000-b000-000000000000';
export const LED_CHAR = 'f000aa02-0451-4000-b000-000000000000';
export const ALARM_CHAR = 'f000aa03-0451-4000-b000-000000000000';

export function envSensor(address = ENV_ADDRESS, name = 'EnvSensor-01'): SimPeripheralSpec {
  return {
    address,
    name,
    rssi: -58,
    advertisement: { serviceUuids: ['181a', '180f'] },
    services: [
      { uuid: '180a', characteristics: [
        { uuid: '2a29', properties: ['read'], value: { utf8: 'Acme Sensors' } },
        { uuid: '2a24', properties: ['read'], value: { utf8: 'ENV-3' } },
        { uuid: '2a25', properties: ['read'], value: { utf8: 'SN-0001' } },
      ] },
      { uuid: '180f', characteristics: [{ uuid: '2a19', properties: ['read', 'notify'], value: { uint8: 87 } }] },
      { uuid: '181a', characteristics: [
        { uuid: '2a6e', properties: ['read', 'notify'], value: { int16: 2150 } },
        { uuid: '2a6f', properties: ['read', 'notify'], value: { uint16: 4520 } },
        { uuid: '2a6d', properties: ['read'], value: { uint32: 1013250 } },
      ] },
      { uuid: CONTROL_SERVICE, characteristics: [
        { uuid: CONTROL_CHAR, properties: ['read', 'write'], value: { uint8: 10 } },
        { uuid: LED_CHAR, properties: ['write', 'writeWithoutResponse'] },
        { uuid: ALARM_CHAR, properties: ['indicate'], value: { uint8: 0 } },
      ] },
    ],
  };
}

/** Raw IR temperature as the CC2541 sends it: little-endian, the low two bits unused. */
export function tagSensor(): SimPeripheralSpec {
  return {
    address: TAG_ADDRESS,
    name: 'SensorTag',
    rssi: -70,
    services: [{ uuid: 'f000aa10-0451-4000-b000-000000000000', characteristics: [
      { uuid: 'f000aa11-0451-4000-b000-000000000000', properties: ['read'], value: { hex: '7c 0b' } },
    ] }],
  };
}

/** Manufacturer data: company 0x0499, format byte 5, temperature int16 big-endian x 0.005 °C. */
export function beacon(): SimPeripheralSpec {
  return {
    address: BEACON_ADDRESS,
    name: 'Beacon-03',
    rssi: -77,
    connectable: false,
    advertisement: {
      intervalMs: 100,
      manufacturerData: { sequence: [{ hex: '9904 05 1194' }, { hex: '9904 05 11f8' }], everyMs: 200 },
      serviceData: [{ uuid: 'fcd2', data: { hex: '40 01 5a' } }],
    },
  };
}

export function testWorld(overrides: Partial<SimWorldSpec> = {}): SimWorldSpec {
  return { peripherals: [envSensor(), tagSensor(), beacon()], ...overrides };
}
