/** Which format `record` writes, and export --jsonl's flags: one line and exit 2 for a wrong mix. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadNative } from '../../src/kernel/native';
import { recordFormatFor } from '../../src/trace/recording';

const BIN = path.resolve(__dirname, '../../../bin/tcptrace');

test('record writes a capture unless the name says JSON or --format asks for another', () => {
  for (const [file, format] of [
    ['t.tcap', 'capture'], ['/dev/null', 'capture'], ['trace', 'capture'], ['t.jsonl.zst', 'capture'],
    ['t.jsonl', 'jsonl'], ['t.json', 'jsonl'], ['t.jsonl.gz', 'jsonl'], ['t.gz', 'jsonl'],
  ] as const) assert.equal(recordFormatFor(file), format, file);
  assert.equal(recordFormatFor('t.jsonl', 'capture'), 'capture');
  assert.equal(recordFormatFor('t.tcap', 'json'), 'json');
});

test('export: --jsonl or --format, not both; perfetto needs -o; a bad file is one line', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-export-'));
  try {
    const capture = path.join(dir, 't.tcap');
    const file = new (loadNative().Capture)(capture);
    file.close(); // a capture with no header block
    const run = (...args: string[]) => spawnSync(process.execPath, [BIN, 'export', ...args], { encoding: 'utf8', timeout: 10_000 });
    for (const [args, status, message] of [
      [[capture, '--jsonl', '--format', 'perfetto'], 2, /^tcptrace: option '--jsonl' cannot be used with option '-f, --format <format>'/],
      [[capture], 2, /^tcptrace: --format perfetto needs -o <file>/],
      [[capture, '--jsonl'], 1, /^tcptrace: .*t\.tcap: the capture ends before its header block\n$/],
      [[path.join(dir, 'missing.tcap'), '--jsonl'], 1, /^tcptrace: .*missing\.tcap: no such file\n$/],
    ] as const) {
      const r = run(...args);
      assert.equal(r.status, status, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.split('\n').length, 2, r.stderr);
      assert.equal(r.stdout, '');
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
