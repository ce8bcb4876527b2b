// `edgetwin/sdk`: what a driver package imports. The contract, the codec, links, coded errors and
// the runtime that drives a driver. Nothing here loads node:test: the conformance kit and its
// harness are `edgetwin/sdk/testing` (testing.ts), so a driver's chunk stays free of test code.

export { SDK_VERSION, defineDriver, readingsOf } from './driver.ts';
export type {
  BlockLayout, Connection, DeviceBinding, DiscoveredDevice, Driver, DriverContext, JsonSchema, PropertyBinding, PushChannel, RawBlock, RawReading, ReadRequest,
} from './driver.ts';
export { applyScale, BYTE_ORDERS, CODEC_TYPES, checkCodecSpec, CodecError, codecWidth, decode, encode, removeScale, reorder, roundNoise } from './codec.ts';
export type { ByteOrder, CodecSpec, CodecType } from './codec.ts';
export { checkSerialClaims, LinkRegistry, normaliseSerial, serialKey } from './links.ts';
export type { LinkLease, SerialLink, SerialSettings } from './links.ts';
export { codedError, errorCode, errorMessage, isPermanent, permanentError, raceAbort } from './async.ts';
export { IoCodeFamilies, IoCodes, isRegisteredCode } from '../../core/errors.ts';
export type { IoCode } from '../../core/errors.ts';
export type { FromSchema, JSONSchema } from '../../core/schema.ts';
export { MapperHost } from './host.ts';
export { discoverWith } from './discovery.ts';
export type { DiscoverOptions } from './discovery.ts';
export { proposalYaml } from './proposal.ts';
export type { Proposal, ProposedProperty } from './proposal.ts';
export type { DriverLoader, MapperHostOptions } from './host.ts';
