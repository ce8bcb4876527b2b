// A driver whose connect() always throws, run through the kit by trail.test.ts in a child process:
// the kit's failures must name this file and the line that threw. Not a *.test.ts on purpose.
import { defineDriver, SDK_VERSION } from '../../index.ts';
import { runConformance } from '../../testing.ts';

const refusing = defineDriver({
  name: 'refusing',
  sdkVersion: `^${SDK_VERSION}`,
  protocolSchema: { type: 'object' },
  visitorSchema: { type: 'object' },
  async connect() {
    throw Object.assign(new Error('the instrument wants a handshake first'), { code: 'EHANDSHAKE' }); // THROWS HERE
  },
});

runConformance({
  driver: { name: 'refusing', load: async () => refusing },
  simulator: {
    start: async () => ({ protocol: {}, properties: [{ name: 'v', type: 'int', visitor: {} }] }),
    stop: async () => {},
    restart: async () => {},
  },
  badConfigs: [],
  timeoutMs: 1500,
});
