/**
 * A stop signal (SIGINT, SIGTERM, SIGHUP) at any moment: while the BPF object
 * loads, or during a run of each command that writes a trace. Each exits 0,
 * leaves nothing attached, and leaves a complete trace.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, afterEach, describe, test } from 'node:test';
import {
  assertCompleteTrace, CLIENT_AND_SERVER_CHILD, exitOf, noOrphansSince, noStackTrace, programsOf,
  RECORDING_COMMANDS, released, shapesOnPort, signalCases, startTracer, TRACER,
} from './fault-helpers';
import { killStragglers, lastProgramId, oneConnection } from './helpers';

afterEach(killStragglers);

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tcptrace-signals-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = (name: string) => path.join(dir, `${files++}-${name}`);

describe('a stop signal while the BPF object loads', () => {
  const commands = [{ name: 'live --json', args: () => ['live', '--json'] }, ...RECORDING_COMMANDS];
  for (const { command, signal } of signalCases(commands)) {
    test(`${command.name}, ${signal}: stops once attached, detaches, and its file is complete`, async () => {
      const file = newFile('startup.jsonl');
      const sinceId = lastProgramId();
      const [tracer, ...rest] = TRACER;
      const child = spawn(tracer, [...rest, ...command.args(file), '-v'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      let attachedBeforeSignal: boolean | undefined;
      child.stderr.on('data', (d) => {
        stderr += d;
        // At once, while the load runs: it takes 100+ ms after this line.
        if (attachedBeforeSignal === undefined && stderr.includes('loading the BPF programs')) {
          attachedBeforeSignal = stderr.includes('attached');
          child.kill(signal);
        }
      });
      const status = await exitOf(child);
      assert.equal(attachedBeforeSignal, false, `the signal was sent before tcptrace attached: ${stderr}`);
      assert.equal(status, 0, stderr);
      // Held while the load runs (Node delivers it once the synchronous load returns, as
      // "SIGx" or "SIGx during start-up" by when), and acted on only once attached.
      assert.match(stderr, new RegExp(`attached [0-9]+ ms after start\\n(.*\\n)*tcptrace: stopping \\(${signal}( during start-up)?\\)`), stderr);
      noStackTrace(stderr);
      await noOrphansSince(sinceId);
      if (command.name !== 'live --json') await assertCompleteTrace(file);
    });
  }
});

describe('a stop signal during a recording', () => {
  for (const { command, signal } of signalCases(RECORDING_COMMANDS)) {
    test(`${command.name}, ${signal}: exit 0, nothing attached, the file complete with the connection in it`, async () => {
      const file = newFile('run.jsonl');
      const tracer = await startTracer(command.args(file));
      const programs = programsOf(tracer);
      const port = await oneConnection();
      // Signalled at once: what was traced before the signal is read out and written at the stop.
      tracer.child.kill(signal);
      assert.equal(await tracer.exited(), 0, tracer.stderr);
      assert.match(tracer.stderr, new RegExp(`stopping \\(${signal}\\)`));
      noStackTrace(tracer.stderr);
      await released(programs);
      const lines = await assertCompleteTrace(file);
      assert.deepEqual(shapesOnPort(lines, port), CLIENT_AND_SERVER_CHILD);
    });
  }
});

