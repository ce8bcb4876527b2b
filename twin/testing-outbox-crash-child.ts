// Child process for the outbox kill -9 test: puts keyed values and appends events as fast as it
// can and, after each put or append returned (committed), prints what it just committed. The
// parent kills it mid-stream and checks that every printed entry is in the database.
import { join } from 'node:path';
import { Outbox } from './outbox.ts';

const outbox = new Outbox({ db: join(process.argv[2]!, 'outbox.db'), name: 'crash', maxEntries: 1_000_000, maxBytes: 1 << 30 });
let n = 0;
setInterval(() => {
  for (let i = 0; i < 20; i++) {
    n++;
    const key = `k${n % 7}`;
    outbox.put(key, String(n));
    process.stdout.write(`put ${key} ${n}\n`);
    outbox.append(`e${n}`);
    process.stdout.write(`append e${n}\n`);
  }
}, 1);
