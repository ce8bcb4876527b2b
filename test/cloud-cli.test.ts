// `edgetwin cloud`, `edgetwin cloud token` and `edgetwin cloud revoke` as a user runs them.
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '../core/testing.ts';
import { joinAsNode, RawEdge } from '../hub/testing/edge-client.ts';

const BIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'bin', 'edgetwin.js');
const dir = mkdtempSync(join(tmpdir(), 'edgetwin-cloud-cli-'));
const started: ChildProcess[] = [];
after(() => {
  for (const c of started) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

const run = (...args: string[]) => spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', cwd: dir });

describe('edgetwin cloud', () => {
  it('token, cloud with a config file, join, metrics, then revoke ends the session', async () => {
    const stateDir = join(dir, 'state');
    const tok = run('cloud', 'token', '--ttl', '1h', '--state-dir', stateDir);
    assert.equal(tok.status, 0, tok.stderr);
    const token = tok.stdout.trim();
    assert.match(token, /^[0-9a-f]{64}\.[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.equal(statSync(stateDir).mode & 0o777, 0o700);

    const config = join(dir, 'cloud.yaml');
    writeFileSync(config, 'cloudhub:\n  keepaliveTimeout: 20s\n  resendInterval: 500ms\n  revocationPoll: 100ms\n');
    const [port, joinPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const cloud = spawn(process.execPath, [BIN, 'cloud', '--listen', '127.0.0.1', '--port', String(port), '--join-port', String(joinPort), '--http-port', String(httpPort),
      '--advertise', 'localhost,127.0.0.1', '--state-dir', stateDir, '--config', config], { cwd: dir, env: { ...process.env, KUBECONFIG: '' } });
    started.push(cloud);
    let logs = '';
    cloud.stderr!.on('data', (d: Buffer) => { logs += d.toString(); });
    await waitFor('the cloud\'s /healthz', async () => (await fetch(`http://127.0.0.1:${httpPort}/healthz`)).ok);
    await waitFor('the log line saying no controller runs', () => /no controller runs/.test(logs));

    const creds = await joinAsNode(joinPort, token, 'edge-cli');
    const edge = await RawEdge.connect(port, creds);
    try {
      await waitFor('the node in /metrics', async () => /edgetwin_cloudhub_connected_nodes 1/.test(await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text()));
      const revoke = run('cloud', 'revoke', 'edge-cli', '--state-dir', stateDir);
      assert.equal(revoke.status, 0, revoke.stderr);
      assert.match(revoke.stdout, /node edge-cli is revoked/);
      await edge.waitClosed();
      await assert.rejects(RawEdge.connect(port, creds), /403: node edge-cli's certificate was revoked/);
      assert.equal(logs.includes(token.split('.').slice(1).join('.')), false, 'the token is never logged');
    } finally {
      edge.close();
      cloud.kill('SIGTERM');
      await new Promise((r) => cloud.once('exit', r));
    }
  });

  it('a config file with an unknown key or a bad duration fails naming the file and key', () => {
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'cloudhub:\n  keepalive: 30s\n');
    const r1 = run('cloud', '--config', bad, '--state-dir', join(dir, 'bad-state'));
    assert.equal(r1.status, 1);
    assert.match(r1.stderr, /bad\.yaml: cloudhub\.keepalive is not a setting/);
    writeFileSync(bad, 'cloudhub:\n  keepaliveTimeout: soon\n');
    const r2 = run('cloud', '--config', bad, '--state-dir', join(dir, 'bad-state'));
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /cloudhub\.keepaliveTimeout: "soon" is not a duration/);
  });

  it('the fleet view beyond loopback needs a token; a token file that is missing or too short is named', async () => {
    const ports = ['--port', String(await freePort()), '--join-port', String(await freePort()), '--http-port', String(await freePort())];
    const state = join(dir, 'fleet-state');
    const exposed = run('cloud', '--http-listen', '0.0.0.0', '--state-dir', state, ...ports);
    assert.equal(exposed.status, 1);
    assert.match(exposed.stderr, /--http-listen\) listens on 0\.0\.0\.0, beyond loopback.*--http-token-file/);
    const missing = run('cloud', '--http-token-file', join(dir, 'no-such-token'), '--state-dir', state, ...ports);
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /--http-token-file .*no-such-token: no such file/);
    const short = join(dir, 'short-token');
    writeFileSync(short, 'abc\n');
    const tooShort = run('cloud', '--http-token-file', short, '--state-dir', state, ...ports);
    assert.equal(tooShort.status, 1);
    assert.match(tooShort.stderr, /short-token: the token must be at least 16 characters/);
  });

  it('revoke without a cloud state directory says which directory to pass', () => {
    const r = run('cloud', 'revoke', 'edge-1', '--state-dir', join(dir, 'nothing'));
    assert.equal(r.status, 1);
    assert.match(r.stderr, /holds no cloud CA: pass the cloud's --state-dir/);
  });
});
