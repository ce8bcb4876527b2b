// Cross-field rules of the serial vocabulary that a JSON Schema cannot say.

import type { DeviceBinding } from '../sdk/index.ts';
import { checkByteSpec, specBytes, type ByteSpec } from './bytes.ts';
import type { SerialProtocol, SerialVisitor } from './config.ts';
import { parseJsonPath } from './extract.ts';

type Problem = { property?: string; path: string; message: string };

function usesAddress(text: string | ByteSpec | undefined): boolean {
  if (text === undefined) return false;
  return /\{address(?::[a-z]+)?\}/.test(typeof text === 'string' ? text : text.hex);
}

function regexProblem(source: string | undefined): string | undefined {
  if (source === undefined) return undefined;
  try {
    new RegExp(source.replace(/\{address(?::[a-z]+)?\}/g, '0'), 's');
    return undefined;
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message}`;
  }
}

export function checkDevice(device: DeviceBinding<SerialProtocol, SerialVisitor>): Problem[] {
  const problems: Problem[] = [];
  const c = device.config;
  const f = c.framing;
  const fixed: [string, ByteSpec | undefined][] = [
    ['framing.delimiter', 'delimiter' in f ? f.delimiter : undefined],
    ['framing.start', 'start' in f ? f.start : undefined],
    ['framing.end', 'end' in f ? f.end : undefined],
    ['framing.escape', 'escape' in f ? f.escape : undefined],
  ];
  for (const [path, spec] of fixed) {
    if (spec === undefined) continue;
    const problem = checkByteSpec(spec, []);
    if (problem) problems.push({ path, message: problem });
    else if (path === 'framing.escape' && specBytes(spec).length !== 1) problems.push({ path, message: 'the escape must be exactly one byte' });
  }
  const errorProblem = regexProblem(c.errorPattern);
  if (errorProblem) problems.push({ path: 'errorPattern', message: errorProblem });

  const noAddress = c.address === undefined;
  if (noAddress && usesAddress(c.errorPattern)) problems.push({ path: 'errorPattern', message: 'errorPattern uses {address} but the device sets no address' });
  for (const p of device.properties) {
    const v = p.visitor;
    const at = (path: string, message: string) => problems.push({ property: p.name, path, message });
    if (!v.command && !v.stream) at('command', 'set a command to poll this property, or a stream pattern for the frames that carry it');
    if (v.command && v.stream) at('stream', 'a property is either polled with a command or streamed, not both');
    if (v.command) {
      const problem = checkByteSpec(v.command, ['address']);
      if (problem) at('command', problem);
    }
    if (v.write) {
      const problem = checkByteSpec(v.write.command, ['address', 'value']);
      if (problem) at('write.command', problem);
      const hexValue = typeof v.write.command !== 'string' && v.write.command.hex.includes('{value}');
      if (hexValue && !(v.extract && 'bytes' in v.extract)) at('write.command', '{value} in a hex command is encoded with the property\'s bytes extract: add extract.bytes');
    } else if (p.spec.accessMode === 'ReadWrite') {
      at('write', 'a ReadWrite property needs write.command (and usually write.expect)');
    }
    const texts = [['command', v.command], ['write.command', v.write?.command], ['match', v.match], ['stream', v.stream], ['write.expect', v.write?.expect], ['extract.regex', v.extract && 'regex' in v.extract ? v.extract.regex : undefined]] as const;
    for (const [path, source] of texts) {
      const problem = typeof source === 'string' && path !== 'command' && path !== 'write.command' ? regexProblem(source) : undefined;
      if (problem) at(path, problem);
      if (noAddress && usesAddress(source)) at(path, `${path} uses {address} but the device sets no address in protocol configData`);
    }
    if (v.extract) {
      const kinds = (['regex', 'bytes', 'jsonPath'] as const).filter((k) => k in v.extract!);
      if (kinds.length !== 1) at('extract', `extract takes exactly one of regex, bytes and jsonPath${kinds.length ? `, not ${kinds.join(' and ')}` : ''}`);
      else if ('group' in v.extract && !('regex' in v.extract)) at('extract.group', 'group belongs to extract.regex');
    }
    if (v.extract && 'jsonPath' in v.extract && !parseJsonPath(v.extract.jsonPath)) at('extract.jsonPath', `"${v.extract.jsonPath}" is not a JSON path like $.a.b[0]`);
  }
  return problems;
}
