// Refuses an MQTT packet bigger than broker.maxPacketBytes from its fixed header, before its body
// is buffered: aedes' parser (mqtt-packet) keeps appending bytes until a packet is complete, so a
// client announcing 250 MB would otherwise park 250 MB in the gateway. This scanner follows the
// packet boundaries of the byte stream (1 type byte, 1-4 bytes of remaining length, the body).

export class PacketSizeGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private length = 0;
  private multiplier = 1;
  private remaining = 0;

  constructor(private readonly maxBytes: number) {}

  /** Feeds the next bytes read from the client; returns the announced size when it exceeds the limit. */
  scan(chunk: Buffer): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'body') {
        const n = Math.min(this.remaining, chunk.length - i);
        this.remaining -= n;
        i += n;
        if (this.remaining === 0) this.state = 'type';
        continue;
      }
      const byte = chunk[i++]!;
      if (this.state === 'type') {
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        continue;
      }
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      // Refused as soon as the bytes read so far announce too much, even mid-length.
      if (this.length > this.maxBytes) return this.length;
      if ((byte & 0x80) === 0) {
        this.remaining = this.length;
        this.state = this.length === 0 ? 'type' : 'body';
      }
    }
    return undefined;
  }
}
