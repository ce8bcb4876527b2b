import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';

test('docs/mapper-guide.md shows the example driver exactly as it is tested', async () => {
  const guide = await readFile(new URL('../../../../docs/mapper-guide.md', import.meta.url), 'utf8');
  const driver = await readFile(new URL('./line-driver.ts', import.meta.url), 'utf8');
  const block = /<!-- line-driver:start -->\n```ts\n([\s\S]*?)```\n<!-- line-driver:end -->/.exec(guide);
  assert.ok(block, 'the guide has the marked example block');
  assert.equal(block[1], driver);
});
