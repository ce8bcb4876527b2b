// The packet size guard follows packet boundaries across chunks and refuses from the header.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PacketSizeGuard } from './packet-guard.ts';

/** A PUBLISH of `n` body bytes, fixed header included. */
function packet(n: number): Buffer {
  const len: number[] = [];
  let x = n;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    len.push(b);
  } while (x > 0);
  return Buffer.concat([Buffer.from([0x30, ...len]), Buffer.alloc(n, 7)]);
}

describe('PacketSizeGuard', () => {
  it('passes packets up to the limit, split anywhere across chunks', () => {
    const stream = Buffer.concat([packet(0), packet(100), packet(1000), Buffer.from([0xc0, 0]), packet(1000)]);
    for (const size of [1, 3, 64, stream.length]) {
      const guard = new PacketSizeGuard(1000);
      for (let i = 0; i < stream.length; i += size) assert.equal(guard.scan(stream.subarray(i, i + size)), undefined, `chunks of ${size}`);
    }
  });

  it('refuses a packet over the limit from its header alone, even after body bytes that look like headers', () => {
    const guard = new PacketSizeGuard(1000);
    // The first body holds bytes that would announce a huge packet if read as a header.
    const body = Buffer.alloc(10, 0xff);
    assert.equal(guard.scan(Buffer.concat([Buffer.from([0x30, 10]), body])), undefined);
    assert.equal(guard.scan(Buffer.from([0x30, 0xe9, 0x07])), 1001);
    const big = new PacketSizeGuard(1024 * 1024);
    // 250 MB announced: refused on the 4th length byte, before any of the body.
    assert.equal(big.scan(Buffer.from([0x30, 0x80, 0x80, 0x80])), undefined);
    assert.equal(big.scan(Buffer.from([0x7d])), 250 * 1024 * 1024);
  });
});
