// Runs the Kubernetes API stand-in by hand (for trying kubectl against it, or a child process
// in a test): prints the kubeconfig path on stdout and serves until SIGINT/SIGTERM.
//   node --import tsx hub/testing/kube-apiserver/main.ts --port 16443 [--lease-grace-ms 40000]
import { createLogger } from '../../../core/log.ts';
import { startKubeApiServer } from './index.ts';

function flag(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function numberFlag(name: string): number | undefined {
  const v = flag(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} must be a non-negative integer, not ${JSON.stringify(v)}`);
    process.exit(2);
  }
  return n;
}

const server = await startKubeApiServer({
  port: numberFlag('--port'),
  token: flag('--token'),
  historyLimit: numberFlag('--history-limit'),
  leaseGraceMs: numberFlag('--lease-grace-ms'),
  log: createLogger({ name: 'kube-apiserver-standin' }),
});
console.log(server.kubeconfigPath);
const stop = () => void server.stop().then(() => process.exit(0));
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
