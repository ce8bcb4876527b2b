// Who may connect to a pod bridge listener: only addresses inside the pod CIDR. Those listeners
// speak plain HTTP and MQTT (the traffic stays on this host's bridge, and pods carry per-pod
// tokens), so a packet routed to the bridge address from anywhere else must find nothing there.

import { BlockList, isIP } from 'node:net';

/** A test of a peer's address: true when it lies inside `cidr` (`10.88.0.0/16`, or an IPv6 prefix). */
export function insideCidr(cidr: string): (address: string | undefined) => boolean {
  const slash = cidr.indexOf('/');
  const net = slash === -1 ? cidr : cidr.slice(0, slash);
  const family = isIP(net);
  const bits = slash === -1 ? (family === 6 ? 128 : 32) : Number(cidr.slice(slash + 1));
  if (family === 0 || !Number.isInteger(bits) || bits < 0 || bits > (family === 6 ? 128 : 32)) {
    throw new Error(`"${cidr}" is not an address range (write it as 10.88.0.0/16)`);
  }
  const list = new BlockList();
  list.addSubnet(net, bits, family === 6 ? 'ipv6' : 'ipv4');
  return (address) => {
    if (!address) return false;
    // A dual-stack socket reports an IPv4 peer as ::ffff:a.b.c.d.
    const plain = address.replace(/^::ffff:(?=\d+\.\d+\.\d+\.\d+$)/i, '');
    const f = isIP(plain);
    return f !== 0 && list.check(plain, f === 6 ? 'ipv6' : 'ipv4');
  };
}
