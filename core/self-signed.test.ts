// The self-signed certificate of a listener beyond loopback: made once with private files, served
// again unchanged on the next start, and made anew only when the pair on disk cannot serve.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateSelfSigned } from './self-signed.ts';

const root = mkdtempSync(join(tmpdir(), 'edgetwin-selfsigned-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('loadOrCreateSelfSigned', () => {
  it('makes a server certificate for the host, this machine and loopback, with the key 0600 in a 0700 directory', async () => {
    const dir = join(root, 'first', 'tls');
    const c = await loadOrCreateSelfSigned({ dir, name: 'api', host: '203.0.113.9' });
    assert.match(c.made!, /none existed/);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    assert.equal(statSync(c.keyFile).mode & 0o777, 0o600);
    const cert = new X509Certificate(c.cert);
    assert.equal(cert.fingerprint256, c.fingerprint);
    assert.match(c.fingerprint, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    for (const ip of ['203.0.113.9', '127.0.0.1']) assert.equal(cert.checkIP(ip), ip, ip);
    for (const name of ['localhost', hostname()]) assert.equal(cert.checkHost(name), name, name);
    assert.equal(cert.checkIP('198.51.100.7'), undefined, 'no other address');
    assert.equal(cert.ca, false, 'a server certificate, not a CA');
    assert.ok(new Date(cert.validTo).getTime() > Date.now() + 365 * 24 * 3600_000);
  });

  it('serves the same certificate on the next start (same fingerprint, nothing written)', async () => {
    const dir = join(root, 'reuse');
    const first = await loadOrCreateSelfSigned({ dir, name: 'broker', host: '0.0.0.0' });
    const mtime = statSync(first.certFile).mtimeMs;
    const again = await loadOrCreateSelfSigned({ dir, name: 'broker', host: '0.0.0.0' });
    assert.equal(again.made, undefined);
    assert.equal(again.fingerprint, first.fingerprint);
    assert.equal(again.key, first.key);
    assert.equal(statSync(first.certFile).mtimeMs, mtime);
  });

  it('makes a new one when the host moved to an address the old one does not name', async () => {
    const dir = join(root, 'moved');
    const first = await loadOrCreateSelfSigned({ dir, name: 'api', host: '203.0.113.9' });
    const moved = await loadOrCreateSelfSigned({ dir, name: 'api', host: '198.51.100.7' });
    assert.match(moved.made!, /not valid for 198\.51\.100\.7/);
    assert.notEqual(moved.fingerprint, first.fingerprint);
    assert.equal(new X509Certificate(moved.cert).checkIP('198.51.100.7'), '198.51.100.7');
  });

  it('makes a new one when the key on disk is not the certificate\'s, or is damaged', async () => {
    const dir = join(root, 'damaged');
    const a = await loadOrCreateSelfSigned({ dir, name: 'api', host: '0.0.0.0' });
    const other = await loadOrCreateSelfSigned({ dir: join(root, 'other'), name: 'api', host: '0.0.0.0' });
    writeFileSync(a.keyFile, other.key, { mode: 0o600 });
    const mismatched = await loadOrCreateSelfSigned({ dir, name: 'api', host: '0.0.0.0' });
    assert.match(mismatched.made!, /is not the key of/);
    writeFileSync(mismatched.keyFile, 'not a key\n', { mode: 0o600 });
    const damaged = await loadOrCreateSelfSigned({ dir, name: 'api', host: '0.0.0.0' });
    assert.match(damaged.made!, /unreadable/);
    assert.notEqual(damaged.fingerprint, mismatched.fingerprint);
  });
});
