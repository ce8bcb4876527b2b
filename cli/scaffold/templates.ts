// The files `edgetwin mapper new` writes: a driver package for a TCP text instrument (`GET <key>`
// answers `OK <value>` or `ERR <CODE> <message>`), ready to rename into the author's protocol.
// examples/custom-mapper/ is this output, and a test keeps the two equal.

export interface ScaffoldNames {
  /** npm package name (the folder's name). */
  packageName: string;
  /** protocolName in Device YAML. */
  protocol: string;
  /** camelCase identifier stem. */
  ident: string;
  /** The fixed port the example Device and `npm run simulate` use. */
  port: number;
  /** `file:` path from the package to the edgetwin that generated it. */
  edgetwinPath: string;
  edgetwinVersion: string;
  /** The SDK range the driver is written for (the generating SDK's major). */
  sdkRange: string;
}

import { conformanceTs, driverTs, simulateTs, simulatorTs } from './code-templates.ts';
import { deviceYaml, readme } from './doc-templates.ts';

export function scaffoldFiles(n: ScaffoldNames): Record<string, string> {
  return {
    'package.json': packageJson(n),
    'tsconfig.json': tsconfig(),
    '.gitignore': 'node_modules/\ndist/\n*.tgz\n',
    'README.md': readme(n),
    'src/index.ts': indexTs(n),
    'src/driver.ts': driverTs(n),
    'src/simulator.ts': simulatorTs(n),
    'src/simulate.ts': simulateTs(n),
    'test/conformance.test.ts': conformanceTs(n),
    'examples/device.yaml': deviceYaml(n),
  };
}

function packageJson(n: ScaffoldNames): string {
  const pkg = {
    name: n.packageName,
    version: '0.1.0',
    description: `edgetwin driver for the ${n.protocol} protocol`,
    type: 'module',
    license: 'Apache-2.0',
    keywords: ['edgetwin', 'edgetwin-driver', n.protocol],
    exports: { '.': { types: './dist/src/index.d.ts', default: './dist/src/index.js' } },
    files: ['dist/src', 'src', 'examples', 'README.md'],
    scripts: {
      prepare: 'tsc -p tsconfig.json',
      test: 'tsc -p tsconfig.json && node --enable-source-maps --test dist/test/conformance.test.js',
      simulate: 'node --enable-source-maps dist/src/simulate.js',
    },
    peerDependencies: { edgetwin: `^${n.edgetwinVersion}` },
    devDependencies: { '@types/node': '^20.19.0', edgetwin: `file:${n.edgetwinPath}`, typescript: '^5.9.0' },
    engines: { node: '>=20' },
  };
  return `${JSON.stringify(pkg, null, 2)}\n`;
}

function tsconfig(): string {
  const config = {
    compilerOptions: {
      target: 'ES2022',
      module: 'NodeNext',
      moduleResolution: 'NodeNext',
      strict: true,
      declaration: true,
      sourceMap: true,
      skipLibCheck: true,
      outDir: 'dist',
      rootDir: '.',
      types: ['node'],
    },
    include: ['src', 'test'],
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

function indexTs(n: ScaffoldNames): string {
  return `// The package's default export: the driver loader edgetwin loads with \`--driver ${n.packageName}\`
// or \`drivers: [${n.packageName}]\`. The driver itself loads only when a ${n.protocol} device exists.
import type { DriverLoader } from 'edgetwin/sdk';

const ${n.ident}Loader: DriverLoader = {
  name: '${n.protocol}',
  load: async () => (await import('./driver.js')).${n.ident}Driver,
};

export default ${n.ident}Loader;
`;
}
