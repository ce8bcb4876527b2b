// The subset of kubectl's JSONPath that CRD printer columns use: .a.b, .a[0], .a[*].b,
// .a[?(@.k=="v")].b and escaped dots in keys (.metadata.labels.example\.com/x).

type Step = { key: string } | { index: number } | { all: true } | { filter: { path: string[]; op: '==' | '!='; value: string } };

function parse(path: string): Step[] {
  const steps: Step[] = [];
  let s = path.trim().replace(/^\{/, '').replace(/\}$/, '').replace(/^\$/, '');
  while (s.length > 0) {
    if (s.startsWith('[')) {
      const end = s.indexOf(']');
      if (end < 0) throw new Error(`unclosed [ in JSONPath ${path}`);
      const inner = s.slice(1, end);
      s = s.slice(end + 1);
      const f = /^\?\(@((?:\.[\w-]+)+)\s*(==|!=)\s*(?:"([^"]*)"|'([^']*)'|([^)\s]+))\)$/.exec(inner);
      if (inner === '*') steps.push({ all: true });
      else if (/^-?\d+$/.test(inner)) steps.push({ index: Number(inner) });
      else if (f) steps.push({ filter: { path: f[1].slice(1).split('.'), op: f[2] as '==' | '!=', value: f[3] ?? f[4] ?? f[5] } });
      else if (/^'.*'$|^".*"$/.test(inner)) steps.push({ key: inner.slice(1, -1) });
      else throw new Error(`unsupported JSONPath step [${inner}] in ${path}`);
      continue;
    }
    if (s.startsWith('.')) {
      s = s.slice(1);
      let key = '';
      while (s.length > 0 && s[0] !== '.' && s[0] !== '[') {
        if (s[0] === '\\' && s.length > 1) { key += s[1]; s = s.slice(2); } else { key += s[0]; s = s.slice(1); }
      }
      if (key === '*') steps.push({ all: true });
      else if (key !== '') steps.push({ key });
      continue;
    }
    throw new Error(`unexpected ${JSON.stringify(s[0])} in JSONPath ${path}`);
  }
  return steps;
}

/** All values the path selects in obj (empty when the path is absent). */
export function evaluate(path: string, obj: unknown): unknown[] {
  let cur: unknown[] = [obj];
  for (const step of parse(path)) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (v === null || v === undefined) continue;
      if ('key' in step) {
        if (typeof v === 'object' && !Array.isArray(v) && step.key in (v as object)) next.push((v as Record<string, unknown>)[step.key]);
      } else if ('index' in step) {
        if (Array.isArray(v)) { const i = step.index < 0 ? v.length + step.index : step.index; if (i >= 0 && i < v.length) next.push(v[i]); }
      } else if ('all' in step) {
        if (Array.isArray(v)) next.push(...v);
        else if (typeof v === 'object') next.push(...Object.values(v as object));
      } else if (Array.isArray(v)) {
        for (const item of v) {
          let x: unknown = item;
          for (const k of step.filter.path) x = (x as Record<string, unknown> | undefined)?.[k];
          const same = x !== undefined && String(x) === step.filter.value;
          if (step.filter.op === '==' ? same : !same && x !== undefined) next.push(item);
        }
      }
    }
    cur = next;
  }
  return cur;
}
