// BLE identifiers as noble spells them: UUIDs lower-case without dashes, 16-bit SIG UUIDs as four
// hex digits; peripheral ids as the address without colons. Users write them every which way.

const BASE_SUFFIX = '00001000800000805f9b34fb';

/** "0x2A6E", "2a6e", "00002a6e-0000-1000-8000-00805f9b34fb" -> "2a6e". */
export function normUuid(uuid: string): string {
  let u = uuid.trim().toLowerCase().replace(/^0x/, '').replace(/-/g, '');
  if (u.length === 32 && u.startsWith('0000') && u.endsWith(BASE_SUFFIX)) u = u.slice(4, 8);
  return u;
}

export const UUID_PATTERN = '^(0[xX])?([0-9A-Fa-f]{4}|[0-9A-Fa-f]{8}|[0-9A-Fa-f]{8}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{4}-?[0-9A-Fa-f]{12})$';
export const MAC_PATTERN = '^[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}$';

/** "C4:7C:8D:6A:11:01" -> "c4:7c:8d:6a:11:01" (noble reports addresses lower-case). */
export function normAddress(address: string): string {
  return address.trim().toLowerCase();
}

/** The peripheral id noble's HCI binding derives from an address. */
export function peripheralId(address: string): string {
  return normAddress(address).replace(/:/g, '');
}

/** "05 12 34", "051234", "0x051234" -> bytes. */
export function parseHex(text: string): Buffer {
  const hex = text.replace(/^0x/i, '').replace(/[\s:]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`"${text}" is not hex bytes (write pairs of hex digits, e.g. "05 12 34")`);
  return Buffer.from(hex, 'hex');
}

export function toHex(bytes: Uint8Array | undefined): string {
  return bytes ? Buffer.from(bytes).toString('hex') : '';
}
