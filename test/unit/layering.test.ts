/**
 * The house rule of src/: data flows one way, kernel -> model -> reports ->
 * formats -> CLI, and the folders are those stages. A module imports only
 * from its own stage or an earlier one, nothing imports the CLI, and there
 * are no import circles. docs/architecture.md draws the same map.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';

// Compiled to dist/test/unit: the package root is three levels up.
const SRC = path.resolve(__dirname, '../../../src');

/** Stages in data-flow order (folders, or loose files that every stage uses); a module may import from its own stage and those before it. */
const STAGES = [['errors.ts', 'units.ts', 'output-file.ts'], ['host'], ['kernel'], ['trace'], ['source'], ['model'], ['reports'], ['format'], ['export'], ['cli']];
const MAX_LOOSE_FILES = 3;

function sourceFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(full);
    return entry.name.endsWith('.ts') ? [path.relative(SRC, full)] : [];
  });
}

/** The src/ modules one file imports (relative imports only: packages are not stages). */
function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(SRC, file), 'utf8');
  return ts.preProcessFile(text, true, true).importedFiles
    .map((i) => i.fileName)
    .filter((name) => name.startsWith('.'))
    .map((name) => path.relative(SRC, path.resolve(SRC, path.dirname(file), name)))
    .map((name) => (fs.existsSync(path.join(SRC, `${name}.ts`)) ? `${name}.ts` : path.join(name, 'index.ts')))
    .filter((name) => !name.startsWith('..'));
}

function stageOf(file: string): number {
  const top = file.split(path.sep)[0];
  return STAGES.findIndex((stage) => stage.includes(top));
}

const files = sourceFiles(SRC);
const graph = new Map(files.map((f) => [f, importsOf(f)]));

/** Strongly connected components with more than one file, or a file importing itself (Tarjan). */
export function circlesOf(edges: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>(), onStack = new Set<string>();
  const stack: string[] = [], circles: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next); low.set(v, next); next++;
    stack.push(v); onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) { visit(w); low.set(v, Math.min(low.get(v)!, low.get(w)!)); }
      else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do { w = stack.pop()!; onStack.delete(w); component.push(w); } while (w !== v);
    if (component.length > 1 || (edges.get(v) ?? []).includes(v)) circles.push(component.sort());
  };
  for (const v of edges.keys()) if (!index.has(v)) visit(v);
  return circles;
}

test('every file of src/ is in a known stage', () => {
  assert.ok(files.length > 20, `found only ${files.length} files under ${SRC}`);
  assert.deepEqual(files.filter((f) => stageOf(f) < 0), []);
});

test('every import resolves to a file of src/', () => {
  const missing = [...graph].flatMap(([f, deps]) => deps.filter((d) => !graph.has(d)).map((d) => `${f} -> ${d}`));
  assert.deepEqual(missing, []);
});

test('no import runs back up: each module imports only from its own stage or an earlier one', () => {
  const backward = [...graph].flatMap(([f, deps]) => deps.filter((d) => stageOf(d) > stageOf(f)).map((d) => `${f} -> ${d}`));
  assert.deepEqual(backward, []);
});

test('nothing outside the CLI imports the CLI', () => {
  const cli = stageOf(path.join('cli', 'main.ts'));
  const intoCli = [...graph].flatMap(([f, deps]) => deps.filter((d) => stageOf(d) === cli && stageOf(f) !== cli).map((d) => `${f} -> ${d}`));
  assert.deepEqual(intoCli, []);
});

test('no import circles', () => {
  assert.deepEqual(circlesOf(graph), []);
});

test(`at most ${MAX_LOOSE_FILES} files loose in src/`, () => {
  const loose = files.filter((f) => !f.includes(path.sep));
  assert.ok(loose.length <= MAX_LOOSE_FILES, `loose: ${loose.join(', ')}`);
});

test('the checks can fail: a circle and a backward import are found in a made-up graph', () => {
  assert.deepEqual(circlesOf(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']], ['d', ['a']]])), [['a', 'b', 'c']]);
  assert.deepEqual(circlesOf(new Map([['a', ['a']]])), [['a']]);
  assert.deepEqual(circlesOf(new Map([['a', ['b']], ['b', []]])), []);
  assert.ok(stageOf(path.join('model', 'x.ts')) > stageOf(path.join('kernel', 'x.ts')));
});
