// `edgetwin join` and `edgetwin run --cloud` as a user runs them (the bundle in dist/), against the
// real cloud's join server: what is printed, the exit code, and the files written.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../core/log.ts';
import { freePort } from '../core/testing.ts';
import { startCloud, type Cloud } from '../hub/cloudhub/cloud.ts';
import { nodeFiles } from '../hub/join/node-files.ts';
import { createJoinToken } from '../hub/join/token.ts';
import { tempDir } from '../twin/testing.ts';

const ROOT = resolve(import.meta.dirname, '..');

function edgetwin(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn(join(ROOT, 'cli', 'bin', 'edgetwin.js'), args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('exit', (code) => done({ code, stdout, stderr }));
  });
}

describe('edgetwin join (the binary)', () => {
  const state = tempDir('edgetwin-cloud-');
  const data = tempDir('edgetwin-edge-');
  let cloud: Cloud;
  let server: string;

  before(async () => {
    cloud = await startCloud({ stateDir: state.dir, listen: '127.0.0.1', port: await freePort(), joinPort: await freePort(), httpPort: await freePort(), advertise: ['127.0.0.1'], log: silentLogger });
    server = `127.0.0.1:${cloud.ports.join}`;
  });
  after(async () => {
    await cloud.close();
    state.remove();
    data.remove();
  });

  it('joins with a good token from a file and says what it wrote', async () => {
    const tokenFile = join(data.dir, 'token');
    writeFileSync(tokenFile, `${await createJoinToken(cloud.ca)}\n`);
    const r = await edgetwin(['join', '--cloud', server, '--token-file', tokenFile, '--node-name', 'gw-cli', '--data-dir', data.dir]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /joined as node "gw-cli"/);
    assert.equal(statSync(nodeFiles(data.dir).key).mode & 0o777, 0o600);
    assert.doesNotMatch(r.stdout + r.stderr, /eyJ/, 'the token is never printed');
  });

  it('refuses a wrong CA hash, an expired token and a tampered token with the reason, exit 1, nothing written', async () => {
    const good = await createJoinToken(cloud.ca);
    const cases: [string, RegExp][] = [
      [`${'f'.repeat(64)}${good.slice(64)}`, /does not match the token/],
      [await createJoinToken(cloud.ca, 1000, Date.now() - 3_600_000), /HTTP 401: .*expired/],
      [`${good.slice(0, -4)}${good.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`, /HTTP 401/],
    ];
    for (const [token, reason] of cases) {
      const dir = tempDir('edgetwin-edge-');
      try {
        const r = await edgetwin(['join', '--cloud', server, '--token', token, '--node-name', 'gw-bad', '--data-dir', dir.dir]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /^error: join failed: /);
        assert.match(r.stderr, reason);
        assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
        assert.equal(existsSync(nodeFiles(dir.dir).cert), false);
      } finally {
        dir.remove();
      }
    }
  });

  it('says when the cloud cannot be reached', async () => {
    const r = await edgetwin(['join', '--cloud', `127.0.0.1:${await freePort()}`, '--token', await createJoinToken(cloud.ca), '--data-dir', data.dir + '-none']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the join server .*ECONNREFUSED/);
  });

  it('run --cloud refuses a --node-name that is not the certificate\'s, and a data directory that never joined', async () => {
    const url = `wss://127.0.0.1:${cloud.ports.cloudhub}`;
    const apiPort = String(await freePort());
    const mqttPort = String(await freePort());
    const common = ['--api-port', apiPort, '--mqtt-port', mqttPort, '--no-live'];
    const mismatch = await edgetwin(['run', '--cloud', url, '--data-dir', data.dir, '--node-name', 'someone-else', ...common]);
    assert.equal(mismatch.code, 2, 'a configuration mistake');
    assert.match(mismatch.stderr, /--node-name \\?"someone-else\\?" differs from the node certificate's name \\?"gw-cli\\?"/);
    const never = await edgetwin(['run', '--cloud', url, '--data-dir', data.dir + '-never', ...common]);
    assert.equal(never.code, 2, 'a configuration mistake');
    assert.match(never.stderr, /no node certificate in the data directory/);
  });
});
