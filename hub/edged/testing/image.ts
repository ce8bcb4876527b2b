// Builds container images for tests from the host's busybox-static, with no registry and no
// network: a docker-archive tarball (manifest.json, an image config, one layer) that
// `ctr -n k8s.io images import` accepts. The tar writer is the minimal ustar subset a layer needs.

import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

interface TarEntry {
  name: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  data?: Buffer;
  linkName?: string;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function tarHeader(e: TarEntry, size: number): Buffer {
  const h = Buffer.alloc(512, 0);
  if (Buffer.byteLength(e.name) > 100) throw new Error(`tar name too long: ${e.name}`);
  h.write(e.name, 0, 'utf8');
  h.write(octal(e.mode, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(size, 12), 124, 'ascii');
  h.write(octal(0, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(e.type === 'file' ? '0' : e.type === 'dir' ? '5' : '2', 156, 'ascii');
  if (e.linkName) h.write(e.linkName, 157, 'utf8');
  h.write('ustar\0', 257, 'ascii');
  h.write('00', 263, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(octal(sum, 7) + ' ', 148, 'ascii');
  return h;
}

export function tar(entries: TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? e.data ?? Buffer.alloc(0) : Buffer.alloc(0);
    parts.push(tarHeader(e, data.length), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad, 0));
  }
  parts.push(Buffer.alloc(1024, 0));
  return Buffer.concat(parts);
}

const APPLETS = ['sh', 'sleep', 'cat', 'echo', 'ls', 'true', 'false', 'nc', 'httpd', 'env', 'kill', 'touch', 'rm', 'mkdir', 'test', 'date', 'wget', 'ps', 'hostname', 'ip', 'id', 'stat', 'grep', 'exit'];

/** The root filesystem layer: /bin/busybox from the host plus one symlink per applet used. */
export function busyboxLayer(busybox = '/bin/busybox'): Buffer {
  const entries: TarEntry[] = [
    { name: 'bin/', type: 'dir', mode: 0o755 },
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: readFileSync(busybox) },
    ...APPLETS.filter((a) => a !== 'exit').map((a): TarEntry => ({ name: `bin/${a}`, type: 'symlink', mode: 0o777, linkName: 'busybox' })),
    { name: 'tmp/', type: 'dir', mode: 0o1777 },
    { name: 'etc/', type: 'dir', mode: 0o755 },
    { name: 'etc/passwd', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:0:root:/:/bin/sh\n') },
    { name: 'etc/group', type: 'file', mode: 0o644, data: Buffer.from('root:x:0:\n') },
    { name: 'proc/', type: 'dir', mode: 0o755 },
    { name: 'sys/', type: 'dir', mode: 0o755 },
    { name: 'dev/', type: 'dir', mode: 0o755 },
    { name: 'var/', type: 'dir', mode: 0o755 },
    { name: 'www/', type: 'dir', mode: 0o755 },
    { name: 'www/index.html', type: 'file', mode: 0o644, data: Buffer.from('ok\n') },
  ];
  return tar(entries);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A docker-archive holding `layer` under each of `tags`, with `cmd` as its default command. */
export function dockerArchive(tags: string[], layer: Buffer, cmd: string[]): Buffer {
  const config = Buffer.from(JSON.stringify({
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    created: '2026-01-01T00:00:00Z',
    config: { Cmd: cmd, Env: ['PATH=/bin'], WorkingDir: '/' },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layer)}`] },
    history: [{ created: '2026-01-01T00:00:00Z', created_by: 'edgetwin test image from busybox-static' }],
  }));
  const configName = `${sha256(config)}.json`;
  const layerName = `${sha256(layer)}/layer.tar`;
  const manifest = Buffer.from(JSON.stringify([{ Config: configName, RepoTags: tags, Layers: [layerName] }]));
  return tar([
    { name: configName, type: 'file', mode: 0o644, data: config },
    { name: `${sha256(layer)}/`, type: 'dir', mode: 0o755 },
    { name: layerName, type: 'file', mode: 0o644, data: layer },
    { name: 'manifest.json', type: 'file', mode: 0o644, data: manifest },
  ]);
}

export function writeBusyboxArchive(file: string, tags: string[], cmd: string[]): void {
  writeFileSync(file, dockerArchive(tags, busyboxLayer(), cmd));
}
