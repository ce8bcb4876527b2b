// The request guard on its own: which Host, Origin, content type and token pass, for the servers
// that reuse it beyond the local API (the dashboard, `edgetwin cloud`).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultHostNames, exposureProblem, isLoopback, methodNotAllowed, RequestGuard } from './http-guard.ts';
import { ScopedCredentials } from './scoped-credentials.ts';

const req = (headers: Record<string, string>, method = 'GET') => ({ method, headers });

test('Host: loopback names and the bind address on our port pass; other names and ports do not', () => {
  const g = new RequestGuard({ bindHost: '127.0.0.1', port: 7180, scheme: 'http' });
  for (const h of ['127.0.0.1:7180', 'localhost:7180', 'LocalHost.:7180', '[::1]:7180']) assert.equal(g.checkSite(req({ host: h })), undefined, h);
  for (const h of ['127.0.0.1', 'localhost:80', 'evil.example:7180', '127.0.0.1:7181', '[::1', 'a:b:c', '']) {
    assert.equal(g.checkSite(req({ host: h }))?.status, 403, h);
  }
  assert.equal(g.checkSite(req({}))?.code, 'ET_FORBIDDEN_HOST', 'no Host at all');
});

test('Host: allowedHosts adds names, on our port unless one is given; https defaults to 443', () => {
  const g = new RequestGuard({ bindHost: '10.1.2.3', port: 443, scheme: 'https', allowedHosts: ['gw.plant.example', 'proxy.example:8443', 'fd00::7'] });
  for (const h of ['10.1.2.3', '10.1.2.3:443', 'gw.plant.example', 'proxy.example:8443', '[fd00::7]:443']) assert.equal(g.checkSite(req({ host: h })), undefined, h);
  assert.equal(g.checkSite(req({ host: 'proxy.example' }))?.status, 403);
  assert.ok(defaultHostNames('0.0.0.0').includes('127.0.0.1'));
  assert.ok(defaultHostNames('0.0.0.0').length > 3, 'a wildcard bind answers to every local address');
});

test('Origin: only our own scheme, host and port; Sec-Fetch-Site cross-site refused without Origin', () => {
  const g = new RequestGuard({ bindHost: '127.0.0.1', port: 7180, scheme: 'http' });
  const host = '127.0.0.1:7180';
  assert.equal(g.checkSite(req({ host, origin: 'http://127.0.0.1:7180' })), undefined);
  for (const origin of ['http://evil.example', 'https://127.0.0.1:7180', 'http://127.0.0.1:7181', 'http://localhost:7180', 'null', 'garbage']) {
    assert.equal(g.checkSite(req({ host, origin }))?.code, 'ET_FORBIDDEN_ORIGIN', origin);
  }
  assert.equal(g.checkSite(req({ host, 'sec-fetch-site': 'cross-site' }))?.status, 403);
  assert.equal(g.checkSite(req({ host, 'sec-fetch-site': 'same-origin' })), undefined);
});

test('writes must be JSON; reads need no content type', () => {
  const g = new RequestGuard({ bindHost: '127.0.0.1', port: 1, scheme: 'http' });
  assert.equal(g.checkWrite(req({ 'content-type': 'application/json; charset=utf-8' }, 'POST')), undefined);
  assert.equal(g.checkWrite(req({ 'content-type': 'Application/JSON' }, 'PUT')), undefined);
  for (const t of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/json-patch+json']) {
    assert.equal(g.checkWrite(req({ 'content-type': t }, 'POST'))?.code, 'ET_FORBIDDEN_CONTENT_TYPE', t);
  }
  assert.equal(g.checkWrite(req({}, 'DELETE'))?.status, 403);
  assert.equal(g.checkWrite(req({}, 'GET')), undefined);
});

test('bearer token: the exact token passes; a missing, wrong, longer or differently-schemed one gets 401 with WWW-Authenticate', () => {
  const token = 'a'.repeat(32);
  const g = new RequestGuard({ bindHost: '0.0.0.0', port: 1, scheme: 'http', token });
  assert.equal(g.authenticated(req({ authorization: `Bearer ${token}` })), true);
  assert.equal(g.authenticated(req({ authorization: `bearer ${token}` })), true, 'the scheme is case-insensitive');
  for (const a of [undefined, `Bearer ${token}a`, `Bearer ${token.slice(1)}`, `Basic ${token}`, 'Bearer', `Bearer ${token} extra`]) {
    assert.equal(g.authenticated(req(a === undefined ? {} : { authorization: a })), false, String(a));
  }
  const r = g.unauthorized(req({}));
  assert.equal(r.status, 401);
  assert.equal(r.headers?.['www-authenticate'], 'Bearer realm="edgetwin"');
  assert.equal(new RequestGuard({ bindHost: '127.0.0.1', port: 1, scheme: 'http' }).authenticated(req({})), true, 'no token configured, none asked');
});

test('exposure: loopback alone, or a token or client CA beyond it', () => {
  for (const h of ['127.0.0.1', '127.3.4.5', '::1', '[::1]', 'localhost']) assert.equal(isLoopback(h), true, h);
  for (const h of ['0.0.0.0', '::', '10.0.0.1', 'gw.example']) assert.equal(isLoopback(h), false, h);
  assert.equal(exposureProblem('127.0.0.1', {}), undefined);
  assert.match(exposureProblem('0.0.0.0', {})!, /beyond loopback/);
  assert.equal(exposureProblem('0.0.0.0', { token: 'x'.repeat(16) }), undefined);
  assert.equal(exposureProblem('0.0.0.0', { clientCa: 'PEM' }), undefined);
});

test('405 names the methods the path serves in Allow', () => {
  const r = methodNotAllowed('DELETE', '/x', ['GET', 'PUT']);
  assert.equal(r.status, 405);
  assert.equal(r.headers?.allow, 'GET, PUT');
});

test('identify: the token or its session is full access, a scoped credential its scope, a required credential refuses anyone else', () => {
  const scoped = new ScopedCredentials(['pod:']);
  scoped.set('pod-secret', { subject: 'pod line/app', user: 'pod:line/app', namespaces: ['line'] });
  const bearer = (t: string) => req({ authorization: `Bearer ${t}` });

  const withToken = new RequestGuard({ bindHost: '127.0.0.1', port: 7180, scheme: 'http', token: 'tok', scoped });
  assert.deepEqual(withToken.identify(bearer('tok')), { kind: 'full' });
  assert.deepEqual(withToken.identify(bearer('pod-secret')), { kind: 'scoped', scope: { subject: 'pod line/app', user: 'pod:line/app', namespaces: ['line'] } });
  assert.equal(withToken.identify(bearer('wrong')), undefined);
  assert.equal(withToken.identify(req({})), undefined);
  assert.equal(withToken.authenticated(bearer('pod-secret')), false, 'a scoped credential is not the token');
  assert.equal(withToken.signIn('pod-secret'), undefined, 'nor does it sign in');
  const cookie = withToken.signIn('tok')!.split(';')[0]!;
  assert.deepEqual(withToken.identify(req({ cookie })), { kind: 'full' });

  const open = new RequestGuard({ bindHost: '127.0.0.1', port: 7180, scheme: 'http', scoped });
  assert.deepEqual(open.identify(req({})), { kind: 'full' }, 'no token asked for: anyone, as before');
  assert.equal(open.identify(bearer('pod-secret'))?.kind, 'scoped', 'but a pod token keeps its scope');

  const bridge = new RequestGuard({ bindHost: '10.88.0.1', port: 7180, scheme: 'http', scoped, credentialRequired: true });
  assert.equal(bridge.requiresToken, true);
  assert.equal(bridge.identify(req({})), undefined);
  assert.equal(bridge.identify(bearer('anything')), undefined);
  assert.equal(bridge.identify(bearer('pod-secret'))?.kind, 'scoped');
  assert.equal(bridge.checkSite(req({ host: '10.88.0.7:7180' }))?.status, 403);
  bridge.allowHost('10.88.0.7');
  assert.equal(bridge.checkSite(req({ host: '10.88.0.7:7180' })), undefined, 'allowHost adds a name on the port');
});
