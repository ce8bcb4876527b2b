import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { makeNodeCsr } from '../testing/csr.ts';
import { CertificateAuthority, CertificateRefused } from './ca.ts';
import { createJoinToken, parseDuration, splitJoinToken, verifyJoinToken } from './token.ts';

const dir = mkdtempSync(join(tmpdir(), 'edgetwin-ca-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const stateDir = join(dir, 'state');

describe('certificate authority', () => {
  it('is created once, owner-only, and loaded again unchanged', async () => {
    let created = 0;
    const ca = await CertificateAuthority.loadOrCreate(stateDir, { onCreate: () => created++ });
    assert.equal(created, 1);
    assert.equal(statSync(stateDir).mode & 0o777, 0o700);
    assert.equal(statSync(join(stateDir, 'ca.key')).mode & 0o777, 0o600);
    const again = await CertificateAuthority.loadOrCreate(stateDir, { onCreate: () => created++ });
    assert.equal(created, 1);
    assert.deepEqual(again.certDer, ca.certDer);
    assert.deepEqual(again.tokenKey, ca.tokenKey);
    const cert = new X509Certificate(ca.certDer);
    assert.equal(cert.ca, true);
    assert.equal(cert.publicKey.asymmetricKeyDetails?.namedCurve, 'prime256v1');
    assert.equal(ca.hash, createHash('sha256').update(ca.certDer).digest('hex'));
  });

  it('signs a node CSR into a 365-day ClientAuth certificate with the CSR\'s names', async () => {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const { csrDer } = await makeNodeCsr({ cn: 'system:node:edge-1', o: 'system:nodes' }, ['edge-1.local']);
    const issued = await ca.signNodeCsr(csrDer, 'edge-1');
    const cert = new X509Certificate(issued.der);
    assert.equal(cert.checkIssued(new X509Certificate(ca.certDer)), true);
    assert.equal(cert.subject, 'CN=system:node:edge-1\nO=system:nodes');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.2']);
    assert.equal(cert.subjectAltName, 'DNS:edge-1.local');
    const days = (new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()) / 86_400_000;
    assert.equal(days, 365);
    assert.deepEqual(ca.verifyNodeCert(issued.der).node, 'edge-1');
  });

  it('refuses a CSR whose CN or O does not match the NodeName, saying what it must be', async () => {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const other = await makeNodeCsr({ cn: 'system:node:edge-2', o: 'system:nodes' });
    await assert.rejects(ca.signNodeCsr(other.csrDer, 'edge-1'), (e: Error) => e instanceof CertificateRefused && /CN is "system:node:edge-2", it must be "system:node:edge-1"/.test(e.message));
    const noOrg = await makeNodeCsr({ cn: 'system:node:edge-1' });
    await assert.rejects(ca.signNodeCsr(noOrg.csrDer, 'edge-1'), /O is missing, it must be "system:nodes"/);
    await assert.rejects(ca.signNodeCsr(Buffer.from('not a csr'), 'edge-1'), /not a DER certificate signing request/);
  });

  it('refuses a client certificate of another CA', async () => {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const foreign = await CertificateAuthority.loadOrCreate(join(dir, 'other'));
    const { csrDer } = await makeNodeCsr({ cn: 'system:node:edge-1', o: 'system:nodes' });
    const issued = await foreign.signNodeCsr(csrDer, 'edge-1');
    assert.throws(() => ca.verifyNodeCert(issued.der), /not signed by this cloud's CA/);
  });

  it('issues a server certificate for the advertised names and addresses', async () => {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const server = await ca.issueServerCert(['cloud.example', '127.0.0.1']);
    const cert = new X509Certificate(server.certPem);
    assert.equal(cert.subjectAltName, 'DNS:cloud.example, IP Address:127.0.0.1');
    assert.deepEqual(cert.keyUsage, ['1.3.6.1.5.5.7.3.1']);
    assert.equal(cert.checkHost('cloud.example'), 'cloud.example');
  });
});

describe('join tokens', () => {
  it('a fresh token verifies, whole or as the JWT alone, and expires after its TTL', async () => {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const token = await createJoinToken(ca, parseDuration('24h'));
    const { caHash, jwt } = splitJoinToken(token);
    assert.equal(caHash, ca.hash);
    assert.equal((await verifyJoinToken(jwt, ca)).ok, true);
    assert.equal((await verifyJoinToken(token, ca)).ok, true);
    const later = await verifyJoinToken(jwt, ca, Date.now() + 25 * 3600_000);
    assert.equal(later.ok, false);
    assert.match(!later.ok ? later.reason : '', /expired/);
  });

  it('refuses a tampered token, another CA\'s token and a token naming another CA', async () => {
    const ca = await CertificateAuthority.loadOrCreate(stateDir);
    const foreign = await CertificateAuthority.loadOrCreate(join(dir, 'other'));
    const { jwt } = splitJoinToken(await createJoinToken(ca));
    const [h, p, s] = jwt.split('.');
    const payload = JSON.parse(Buffer.from(p!, 'base64url').toString());
    payload.exp += 3600 * 24 * 365;
    const tampered = [h, Buffer.from(JSON.stringify(payload)).toString('base64url'), s].join('.');
    const t = await verifyJoinToken(tampered, ca);
    assert.match(!t.ok ? t.reason : '', /signature is not valid/);
    const f = await verifyJoinToken(splitJoinToken(await createJoinToken(foreign)).jwt, ca);
    assert.match(!f.ok ? f.reason : '', /signature is not valid/);
    const wrongHash = await verifyJoinToken(`${foreign.hash}.${jwt}`, ca);
    assert.match(!wrongHash.ok ? wrongHash.reason : '', /different CA/);
    const junk = await verifyJoinToken('abc', ca);
    assert.match(!junk.ok ? junk.reason : '', /not a join token/);
  });

  it('reads durations as the token command takes them', () => {
    assert.equal(parseDuration('24h'), 86_400_000);
    assert.equal(parseDuration('90s'), 90_000);
    assert.equal(parseDuration('7d'), 7 * 86_400_000);
    assert.throws(() => parseDuration('soon'), /not a duration/);
  });
});
