// `edgetwin/sdk/testing`: the conformance kit and the harness a driver's own tests use. Kept apart
// from index.ts because it loads node:test, which no gateway process should.

export { runConformance } from './conformance/kit.ts';
export type { BadConfig, ConformanceOptions, ConformanceSimulator, SimulatedDevice, SimulatedProperty } from './conformance/kit.ts';
export { activeResources, leakedResources, makeDevice, RecordingSink, waitFor } from './conformance/harness.ts';
export type { PropertyInput } from './conformance/harness.ts';
