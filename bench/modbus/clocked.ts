// The simulator's clocked register block, for benchmarks that check values end to end (bench/gateway).
// Per device (endpoint port, unit id), holding registers 0..101 in one block, one request wide:
//   0-1  clock:   uint32, big-endian (ABCD), Date.now() modulo 2^32 when the simulator last changed the block
//   2-3  counter: uint32, ABCD, how many times it changed the block
//   4..101       one register per property, a formula of the counter (wordOf), so every register changes
//                at every change and a reader can tell a fresh value from a stale or wrong one.
// The simulator changes a device's block each time it serves a read of it, so every poll reads new values.

export const CLOCK_ADDRESS = 0;
export const COUNTER_ADDRESS = 2;
export const FIRST_VALUE_ADDRESS = 4;
export const CLOCKED_REGISTERS = 102;

export interface ClockedProperty {
  name: string;
  address: number;
  dataType: 'uint32' | 'uint16' | 'int16';
}

/** The 100 properties of a clocked device: clock, counter and 98 values (uint16 and int16 in turn). */
export const CLOCKED_PROPERTIES: ClockedProperty[] = [
  { name: 'clock', address: CLOCK_ADDRESS, dataType: 'uint32' },
  { name: 'counter', address: COUNTER_ADDRESS, dataType: 'uint32' },
  ...Array.from({ length: CLOCKED_REGISTERS - FIRST_VALUE_ADDRESS }, (_, i): ClockedProperty => ({
    name: `v${FIRST_VALUE_ADDRESS + i}`, address: FIRST_VALUE_ADDRESS + i, dataType: i % 2 === 0 ? 'uint16' : 'int16',
  })),
];

/** The register at a value address for a counter: an odd multiplier, so each step changes every register. */
export function wordOf(unit: number, counter: number, address: number): number {
  return (Math.imul(counter, 40503) + address * 31 + unit * 1009) & 0xffff;
}

/** What a property reads for a counter (clock and counter excluded). */
export function expectedOf(unit: number, counter: number, p: ClockedProperty): number {
  const w = wordOf(unit, counter, p.address);
  return p.dataType === 'int16' && w >= 0x8000 ? w - 0x10000 : w;
}

/** Fills a holding-register answer (big-endian words at `into`, from `address`) for the block's state. */
export function fillClocked(into: Buffer, at: number, unit: number, address: number, count: number, counter: number, clock: number): void {
  for (let i = 0; i < count; i++) {
    const a = address + i;
    let w: number;
    if (a === CLOCK_ADDRESS) w = (clock >>> 16) & 0xffff;
    else if (a === CLOCK_ADDRESS + 1) w = clock & 0xffff;
    else if (a === COUNTER_ADDRESS) w = (counter >>> 16) & 0xffff;
    else if (a === COUNTER_ADDRESS + 1) w = counter & 0xffff;
    else w = wordOf(unit, counter, a);
    into.writeUInt16BE(w, at + i * 2);
  }
}

/** The full time of a clock reading (ms since the epoch), given a time shortly after it. */
export function clockTime(clock: number, now: number): number {
  return now - ((now - clock) >>> 0);
}
