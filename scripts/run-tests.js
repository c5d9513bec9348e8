#!/usr/bin/env node
// Runs the unit tests, and as root the real-BPF tests too, in one `node --test`
// run (one summary). Serial: the real-BPF tests check what is left attached.
'use strict';
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const dist = path.join(__dirname, '..', 'dist', 'test');
const testsIn = (dir) => fs.readdirSync(path.join(dist, dir))
  .filter((f) => f.endsWith('.test.js')).sort().map((f) => path.join(dist, dir, f));

const unitOnly = process.argv.includes('--unit');
const isRoot = process.geteuid() === 0;
const files = testsIn('unit');
if (!unitOnly && isRoot) files.push(...testsIn('root'));
if (!unitOnly && !isRoot) console.log('# real-BPF tests skipped: they need root (sudo npm test)');

// A file's tests share its timeout: 5 minutes leaves room for a host loaded by
// a storm alongside (signals and faults take 2 minutes there), and still ends a hang.
const result = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files], { stdio: 'inherit' });
process.exit(result.status ?? 1);
