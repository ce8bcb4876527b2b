// Topic permissions from a file in mosquitto's ACL format:
//   # comment
//   topic [read|write|readwrite|deny] <filter>     before any `user` line: clients with no user
//   user <name>                                    the `topic` lines after it are that user's
//   pattern [read|write|readwrite|deny] <filter>   every client; %u is the user, %c the client id
// As in mosquitto: no access word means readwrite, a matching deny wins, and what no line grants is refused.

import { readFileSync } from 'node:fs';
import { EdgetwinError, ErrorCodes } from '../../core/errors.ts';
import { filtersIntersect, topicMatches } from './topics.ts';

export type Access = 'read' | 'write' | 'readwrite' | 'deny';
interface Rule {
  access: Access;
  filter: string;
}

export class AclFile {
  private constructor(
    private readonly anonymous: Rule[],
    private readonly users: Map<string, Rule[]>,
    private readonly patterns: Rule[],
  ) {}

  static read(file: string): AclFile {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new EdgetwinError(ErrorCodes.CONFIG, `cannot read broker.aclFile: ${(err as Error).message}`, { file }, 'see docs/security.md for the format');
    }
    return AclFile.parse(text, file);
  }

  static parse(text: string, file: string): AclFile {
    const anonymous: Rule[] = [];
    const users = new Map<string, Rule[]>();
    const patterns: Rule[] = [];
    let current = anonymous;
    text.split(/\r?\n/).forEach((raw, i) => {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) return;
      const where = { file, line: i + 1 };
      const [keyword] = line.split(/\s+/, 1);
      const rest = line.slice(keyword!.length).trim();
      if (keyword === 'user') {
        if (!rest) throw new EdgetwinError(ErrorCodes.CONFIG, '`user` needs a user name', where);
        current = users.get(rest) ?? [];
        users.set(rest, current);
        return;
      }
      if (keyword !== 'topic' && keyword !== 'pattern') {
        throw new EdgetwinError(ErrorCodes.CONFIG, `unknown ACL keyword "${keyword}"`, where, 'lines start with user, topic or pattern (mosquitto ACL format)');
      }
      const m = /^(read|write|readwrite|deny)\s+(\S.*)$/.exec(rest);
      const rule: Rule = m ? { access: m[1] as Access, filter: m[2]!.trim() } : { access: 'readwrite', filter: rest };
      if (!rule.filter) throw new EdgetwinError(ErrorCodes.CONFIG, `\`${keyword}\` needs a topic`, where);
      (keyword === 'pattern' ? patterns : current).push(rule);
    });
    return new AclFile(anonymous, users, patterns);
  }

  private rulesFor(user: string | undefined, clientId: string): Rule[] {
    const own = user === undefined ? this.anonymous : this.users.get(user) ?? [];
    const expanded = this.patterns.flatMap((r) => {
      const filter = substitute(r.filter, user, clientId);
      return filter === undefined ? [] : [{ access: r.access, filter }];
    });
    return [...own, ...expanded];
  }

  /** May this client publish to `topic`, or receive a message published on it? */
  allows(user: string | undefined, clientId: string, topic: string, want: 'read' | 'write'): boolean {
    const rules = this.rulesFor(user, clientId).filter((r) => topicMatches(r.filter, topic));
    if (rules.some((r) => r.access === 'deny')) return false;
    return rules.some((r) => r.access === 'readwrite' || r.access === want);
  }

  /** May this client subscribe to `filter`? Each message is still checked for read when it is forwarded. */
  allowsSubscribe(user: string | undefined, clientId: string, filter: string): boolean {
    const rules = this.rulesFor(user, clientId);
    if (rules.some((r) => r.access === 'deny' && topicMatches(r.filter, filter) && !/[+#]/.test(filter))) return false;
    return rules.some((r) => (r.access === 'read' || r.access === 'readwrite') && filtersIntersect(r.filter, filter));
  }
}

/** %u and %c, as mosquitto does; a name holding a wildcard or a slash never widens a pattern. */
function substitute(filter: string, user: string | undefined, clientId: string): string | undefined {
  const unsafe = (s: string) => /[+#/]/.test(s);
  if (filter.includes('%u') && (user === undefined || unsafe(user))) return undefined;
  if (filter.includes('%c') && unsafe(clientId)) return undefined;
  return filter.replaceAll('%u', user ?? '').replaceAll('%c', clientId);
}
