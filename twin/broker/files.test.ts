// The password and ACL files: errors name file:line and what to do; topic rules as mosquitto reads them.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EdgetwinError } from '../../core/errors.ts';
import { AclFile } from './acl.ts';
import { PasswordFile } from './passwords.ts';

const fails = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (err: EdgetwinError) => {
    assert.match(err.format(), re);
    return true;
  });

describe('broker password file', () => {
  it('refuses a plain-text password with its line and the mosquitto_passwd -U hint', () => {
    fails(() => PasswordFile.parse('# users\nalice:secret\n', '/etc/pw'), /\/etc\/pw:2: user "alice" has no .* hash \(.*mosquitto_passwd -U/);
    fails(() => PasswordFile.parse('nocolon\n', '/etc/pw'), /\/etc\/pw:1: expected user:hash/);
  });
});

describe('broker ACL file', () => {
  it('names the line of an unknown keyword', () => {
    fails(() => AclFile.parse('user a\ntopic read x\ntopics read y\n', '/etc/acl'), /\/etc\/acl:3: unknown ACL keyword "topics"/);
  });

  it('reads access words as mosquitto does: none means readwrite, deny wins, anonymous rules come before any user', () => {
    const acl = AclFile.parse('topic read public/#\nuser u\ntopic a/#\ntopic deny a/b\ntopic write w\n', '/etc/acl');
    assert.equal(acl.allows(undefined, 'c', 'public/x', 'read'), true);
    assert.equal(acl.allows(undefined, 'c', 'public/x', 'write'), false);
    assert.equal(acl.allows('u', 'c', 'public/x', 'read'), false, 'anonymous rules are not a user\'s');
    assert.equal(acl.allows('u', 'c', 'a/x', 'write'), true);
    assert.equal(acl.allows('u', 'c', 'a/b', 'read'), false);
    assert.equal(acl.allows('u', 'c', 'w', 'read'), false);
    assert.equal(acl.allowsSubscribe('u', 'c', '#'), true, 'a wide subscription is taken; each message is checked on the way out');
    assert.equal(acl.allowsSubscribe('u', 'c', 'other/#'), false);
  });

  it('never lets %u or %c widen a pattern with a wildcard or a slash in a name', () => {
    const acl = AclFile.parse('pattern readwrite devices/%c/#\n', '/etc/acl');
    assert.equal(acl.allows(undefined, 'd1', 'devices/d1/x', 'write'), true);
    assert.equal(acl.allows(undefined, '#', 'devices/d1/x', 'write'), false);
    assert.equal(acl.allows(undefined, 'd1/..', 'devices/d1/../x', 'write'), false);
  });
});
