import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Duplex } from 'node:stream';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';
import { waitFor } from './conformance/harness.ts';
import { checkSerialClaims, LinkRegistry, serialKey, type SerialSettings } from './links.ts';

const bus: SerialSettings = { path: '/dev/ttyUSB0', baudRate: 9600, parity: 'even' };

test('devices on one serial bus with the same settings do not conflict', () => {
  assert.deepEqual(checkSerialClaims([
    { device: 'default/meter-1', protocol: 'modbus', settings: bus },
    { device: 'default/meter-2', protocol: 'modbus', settings: { ...bus, dataBits: 8, stopBits: 1 } },
  ]), []);
});

test('one port with two baud rates is LINK_CONFLICT naming both devices and the difference', () => {
  const [err, ...rest] = checkSerialClaims([
    { device: 'default/meter-1', protocol: 'modbus', settings: bus, source: { file: 'plant.yaml', line: 3 } },
    { device: 'default/meter-2', protocol: 'modbus', settings: { ...bus, baudRate: 19200 }, source: { file: 'plant.yaml', line: 40 } },
  ]);
  assert.equal(rest.length, 0);
  assert.ok(err instanceof EdgetwinError);
  assert.equal(err.code, ErrorCodes.LINK_CONFLICT);
  assert.equal(err.where.device, 'default/meter-2');
  assert.match(err.format(), /^plant\.yaml:40: default\/meter-2: .*meter-1 \(plant\.yaml:3\).*baudRate 9600 vs 19200/);
});

test('one port claimed by two protocols is LINK_CONFLICT', () => {
  const errors = checkSerialClaims([
    { device: 'default/meter-1', protocol: 'modbus', settings: bus },
    { device: 'default/scale-1', protocol: 'serial', settings: bus },
  ]);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!.message, /already used by modbus device default\/meter-1; one port serves one protocol/);
});

function fakeOpener() {
  const opened: Duplex[] = [];
  return {
    opened,
    open: async () => {
      const port = new PassThrough();
      opened.push(port);
      return port;
    },
  };
}

test('a serial port opens once, is shared, and closes with its last user', async () => {
  const opener = fakeOpener();
  const links = new LinkRegistry({ openSerial: opener.open });
  const a = await links.acquireSerial(bus, 'modbus');
  const b = await links.acquireSerial({ ...bus }, 'modbus');
  assert.equal(a, b);
  assert.equal(opener.opened.length, 1);
  await links.release(a.key);
  assert.equal(opener.opened[0]!.destroyed, false);
  await links.release(a.key);
  assert.equal(opener.opened[0]!.destroyed, true);
  assert.equal(links.users(serialKey(bus.path)), 0);
});

test('opening an open port with other settings or for another protocol is refused', async () => {
  const links = new LinkRegistry({ openSerial: fakeOpener().open });
  await links.acquireSerial(bus, 'modbus');
  await assert.rejects(links.acquireSerial({ ...bus, parity: 'none' }, 'modbus'), { code: ErrorCodes.LINK_CONFLICT, message: /parity even vs none/ });
  await assert.rejects(links.acquireSerial(bus, 'serial'), { code: ErrorCodes.LINK_CONFLICT, message: /used by modbus/ });
  await links.closeAll();
});

test('requests on a serial link run one at a time', async () => {
  const links = new LinkRegistry({ openSerial: fakeOpener().open });
  const link = await links.acquireSerial(bus, 'modbus');
  const events: string[] = [];
  let releaseFirst!: () => void;
  const first = link.exclusive(() => new Promise<void>((resolve) => { events.push('first start'); releaseFirst = () => { events.push('first end'); resolve(); }; }));
  const second = link.exclusive(async () => { events.push('second start'); });
  await new Promise((resolve) => setImmediate(resolve));
  assert.deepEqual(events, ['first start']);
  releaseFirst();
  await Promise.all([first, second]);
  assert.deepEqual(events, ['first start', 'first end', 'second start']);
  await links.closeAll();
});

test('a failed request does not block the bus', async () => {
  const links = new LinkRegistry({ openSerial: fakeOpener().open });
  const link = await links.acquireSerial(bus, 'modbus');
  await assert.rejects(link.exclusive(async () => { throw new Error('no answer'); }), /no answer/);
  assert.equal(await link.exclusive(async () => 'next'), 'next');
  await links.closeAll();
});

test('a serial port that vanishes settles closed, and the next acquire opens it again', async () => {
  const opener = fakeOpener();
  const links = new LinkRegistry({ openSerial: opener.open });
  const a = await links.acquireSerial(bus, 'serial');
  const b = await links.acquireSerial(bus, 'serial');
  assert.equal(a.isOpen, true);
  opener.opened[0]!.destroy(new Error('device unplugged'));
  assert.match((await a.closed).message, /unplugged/);
  assert.equal(a.isOpen, false);
  const c = await links.acquireSerial(bus, 'serial');
  assert.notEqual(c, a, 'a new link on a newly opened port');
  assert.equal(opener.opened.length, 2);
  assert.equal(c.isOpen, true);
  await links.release(a.key);
  await links.release(b.key);
  assert.equal(opener.opened[1]!.destroyed, false, 'the holders of the dead link do not close the new port');
  await links.release(c.key);
  assert.equal(opener.opened[1]!.destroyed, true);
  assert.equal(links.users(c.key), 0);
});

test('a failed reopen leaves the port to be opened on a later acquire', async () => {
  const opener = fakeOpener();
  let fail = false;
  const links = new LinkRegistry({ openSerial: (s) => (fail ? Promise.reject(new Error('no such file')) : opener.open()) });
  const a = await links.acquireSerial(bus, 'serial');
  opener.opened[0]!.destroy();
  await a.closed;
  fail = true;
  await assert.rejects(links.acquireSerial(bus, 'serial'), /no such file/);
  fail = false;
  const c = await links.acquireSerial(bus, 'serial');
  assert.equal(c.isOpen, true);
  await links.release(a.key);
  assert.equal(c.isOpen, true);
  await links.release(c.key);
  assert.equal(links.users(c.key), 0);
});

test('acquire shares any resource by key and closes it with the last release', async () => {
  const links = new LinkRegistry();
  let opens = 0;
  let closes = 0;
  const open = async () => { opens++; return { close: () => { closes++; } }; };
  const x = await links.acquire('tcp:10.0.0.5:502', open);
  const y = await links.acquire('tcp:10.0.0.5:502', open);
  assert.equal(x, y);
  await links.release('tcp:10.0.0.5:502');
  assert.equal(closes, 0);
  await links.release('tcp:10.0.0.5:502');
  assert.deepEqual([opens, closes], [1, 1]);
});

test('a real serial port (socat pty pair) opens through serialport, carries bytes and closes', { skip: existsSync('/usr/bin/socat') ? false : 'socat is not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const socat = spawn('/usr/bin/socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  const links = new LinkRegistry();
  try {
    await waitFor(() => existsSync(a) && existsSync(b), 'socat to create the pty pair');
    const left = await links.acquireSerial({ path: a, baudRate: 9600 }, 'modbus');
    const right = await links.acquireSerial({ path: b, baudRate: 9600 }, 'modbus');
    const received = new Promise<string>((resolve) => right.port.once('data', (chunk: Buffer) => resolve(chunk.toString())));
    await left.exclusive(async (port) => { port.write('ping'); });
    assert.equal(await received, 'ping');
    await links.release(left.key);
    await links.release(right.key);
    assert.equal(left.port.destroyed, true);
  } finally {
    await links.closeAll();
    socat.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a real pty that vanishes (socat killed) closes the link, and it reopens when the pty returns', { skip: existsSync('/usr/bin/socat') ? false : 'socat is not installed' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'edgetwin-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const pair = () => spawn('/usr/bin/socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: 'ignore' });
  let socat = pair();
  const links = new LinkRegistry();
  try {
    await waitFor(() => existsSync(a) && existsSync(b), 'socat to create the pty pair');
    const first = await links.acquireSerial({ path: a, baudRate: 9600 }, 'serial');
    // serialport notices the hang-up only once it is reading: see a byte arrive first.
    const peer = await links.acquireSerial({ path: b, baudRate: 9600 }, 'serial');
    const arrived = new Promise((resolve) => first.port.once('data', resolve));
    peer.port.write('x');
    await arrived;
    first.port.on('data', () => undefined);
    socat.kill();
    await first.closed;
    assert.equal(first.isOpen, false);
    await waitFor(() => !existsSync(a), 'the pty to vanish');
    await assert.rejects(links.acquireSerial({ path: a, baudRate: 9600 }, 'serial'));
    socat = pair();
    await waitFor(() => existsSync(a) && existsSync(b), 'socat to create the pty pair again');
    const again = await links.acquireSerial({ path: a, baudRate: 9600 }, 'serial');
    assert.equal(again.isOpen, true);
    await links.release(first.key);
    await links.release(peer.key);
    assert.equal(again.isOpen, true);
    await links.release(again.key);
    assert.equal(again.isOpen, false);
  } finally {
    await links.closeAll();
    socat.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a shared link that breaks tells every holder, is never handed out again, and closes when its last holder lets go', async () => {
  const links = new LinkRegistry();
  const opened: { n: number; closed: boolean; fail?: (err: Error) => void }[] = [];
  const open = async (fail: (err: Error) => void) => {
    const link = { n: opened.length, closed: false, fail, close: () => { link.closed = true; } };
    opened.push(link);
    return link;
  };
  const heard: string[] = [];
  const a = await links.share('plc', open, (err) => heard.push(`a: ${err.message}`));
  const b = await links.share('plc', open, (err) => heard.push(`b: ${err.message}`));
  assert.equal(a.link, b.link, 'one link for both devices');
  opened[0]!.fail!(new Error('socket closed'));
  opened[0]!.fail!(new Error('again'));
  assert.deepEqual(heard, ['a: socket closed', 'b: socket closed'], 'every holder hears once');
  const c = await links.share('plc', open, () => undefined);
  assert.notEqual(c.link, a.link, 'a reconnect gets a fresh link');
  await a.release();
  await a.release();
  assert.equal(opened[0]!.closed, false, 'the broken link stays until its last holder lets go');
  await b.release();
  assert.equal(opened[0]!.closed, true);
  assert.equal(opened[1]!.closed, false);
  await c.release();
  assert.equal(opened[1]!.closed, true);
});

test('a shared link that broke while opening is skipped once, then the failure is an error', async () => {
  const links = new LinkRegistry();
  let opens = 0;
  const brittle = async (fail: (err: Error) => void) => {
    opens++;
    fail(new Error('reset'));
    return { close: () => undefined };
  };
  await assert.rejects(links.share('flaky', brittle, () => undefined, 'the session with opc.tcp://x'), (e: Error & { code?: string }) => e.code === 'ECONNRESET' && /the session with opc\.tcp:\/\/x broke as soon as it opened/.test(e.message));
  assert.equal(opens, 2);
});
