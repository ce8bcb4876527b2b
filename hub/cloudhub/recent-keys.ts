// The newest `capacity` keys seen, to recognize a repeat: kept as 64-bit hashes in typed arrays
// (an open-addressing table and a ring in insertion order), not as a Set of strings. At 10,000
// reports a second a Set of 100,000 message ids is that many long-lived strings the garbage
// collector marks again and again; typed arrays are a few megabytes it never looks into.
//
// Two keys share a hash with probability about capacity / 2^64 per lookup (the hash is seeded
// per process, so a node cannot aim a collision at another node's ids).

import { randomInt } from 'node:crypto';

export class RecentKeys {
  private readonly mask: number;
  /** Slot -> hash halves; a slot is empty when both are 0 (`b` always has its low bit set). */
  private readonly slotA: Uint32Array;
  private readonly slotB: Uint32Array;
  /** Insertion order, for eviction. */
  private readonly ringA: Uint32Array;
  private readonly ringB: Uint32Array;
  private head = 0;
  private count = 0;
  private readonly seedA = randomInt(2 ** 31);
  private readonly seedB = randomInt(2 ** 31);

  constructor(private readonly capacity: number) {
    let slots = 8;
    while (slots < capacity * 2) slots *= 2;
    this.mask = slots - 1;
    this.slotA = new Uint32Array(slots);
    this.slotB = new Uint32Array(slots);
    this.ringA = new Uint32Array(Math.max(1, capacity));
    this.ringB = new Uint32Array(Math.max(1, capacity));
  }

  get size(): number {
    return this.count;
  }

  has(key: string): boolean {
    return this.find(hash(key, this.seedA), (hash(key, this.seedB) | 1) >>> 0) >= 0;
  }

  /** Adds a key (a known one is left where it is); beyond capacity the oldest is forgotten. */
  add(key: string): void {
    if (this.capacity <= 0) return;
    const a = hash(key, this.seedA);
    const b = (hash(key, this.seedB) | 1) >>> 0;
    if (this.find(a, b) >= 0) return;
    if (this.count === this.capacity) {
      const oldest = (this.head - this.count + this.capacity) % this.capacity;
      this.remove(this.find(this.ringA[oldest]!, this.ringB[oldest]!));
      this.count--;
    }
    let i = a & this.mask;
    while (this.slotB[i] !== 0) i = (i + 1) & this.mask;
    this.slotA[i] = a;
    this.slotB[i] = b;
    this.ringA[this.head] = a;
    this.ringB[this.head] = b;
    this.head = (this.head + 1) % this.capacity;
    this.count++;
  }

  private find(a: number, b: number): number {
    let i = a & this.mask;
    while (this.slotB[i] !== 0) {
      if (this.slotA[i] === a && this.slotB[i] === b) return i;
      i = (i + 1) & this.mask;
    }
    return -1;
  }

  /** Linear probing's deletion: later entries of the same run shift back, so no lookup stops early. */
  private remove(i: number): void {
    if (i < 0) return;
    let hole = i;
    let j = i;
    for (;;) {
      j = (j + 1) & this.mask;
      if (this.slotB[j] === 0) break;
      const home = this.slotA[j]! & this.mask;
      // The entry at j may fill the hole unless its home lies cyclically in (hole, j].
      const stays = hole <= j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      this.slotA[hole] = this.slotA[j]!;
      this.slotB[hole] = this.slotB[j]!;
      hole = j;
    }
    this.slotA[hole] = 0;
    this.slotB[hole] = 0;
  }
}

/** A seeded 32-bit string hash (FNV-1a over UTF-16 units, then murmur3's finalizer). */
function hash(s: string, seed: number): number {
  let h = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
