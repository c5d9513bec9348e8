/**
 * A listener whose accept loop stalls: the kernel's own count of what it
 * dropped, read each refresh with the state counts, names the listener, its
 * owner and its queue (the live view's table), and serve exports it.
 */
import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, test } from 'node:test';
import { ListenDrops } from '../../src/model/listen-drops';
import { LiveSource } from '../../src/source/live';
import { CLI, killStragglers, LineProcess, until } from './helpers';

const CONNECTIONS = 6;

describe('listen-queue drops per listener', () => {
  let listener: LineProcess, port: number;
  const clients: net.Socket[] = [];

  const connectMany = () => {
    for (let i = 0; i < CONNECTIONS; i++) {
      const s = net.connect({ host: '127.0.0.1', port });
      s.on('error', () => {});
      clients.push(s);
    }
  };

  before(async () => {
    // A backlog of 1 that is never accepted from (Python: the backlog is exactly what it asks).
    const code = 'import json,socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(1)\n' +
      'print(json.dumps({"event":"listening","port":s.getsockname()[1]}),flush=True)\ntime.sleep(60)';
    listener = new LineProcess('python3', ['-c', code]);
    port = (await listener.next('listening')).port as number;
  });

  after(async () => {
    for (const s of clients) s.destroy();
    listener?.child.kill('SIGKILL');
    await listener?.exited();
    killStragglers();
  });

  test('the listener, its owner and its full queue, and what it dropped while watched', async () => {
    const source = LiveSource.open({ ports: [port] }, {});
    const drops = new ListenDrops();
    try {
      drops.update(source.stateCounts());
      assert.deepEqual(drops.droppingNow(), [], 'nothing dropped yet');
      connectMany();
      await until('the listener to drop', () => {
        drops.update(source.stateCounts());
        return drops.droppingNow().length > 0;
      }, 10_000);
    } finally {
      await source.close();
    }
    const [dropping] = drops.droppingNow();
    assert.equal(dropping.listener, `127.0.0.1:${port}`);
    assert.deepEqual(dropping.owner, { pid: listener.pid, comm: 'python3' }, 'its holder at start is its owner');
    assert.equal(dropping.acceptQueueLimit, 1, 'its own listen() backlog');
    assert.ok(dropping.acceptQueue > dropping.acceptQueueLimit, `its queue is full: ${JSON.stringify(dropping)}`);
    assert.ok(dropping.droppedWhileWatched > 0);
  });

  test('serve: a counter for the listener, by namespace and address', async () => {
    const serve = new LineProcess(process.execPath, [CLI, 'serve', '--listen', '127.0.0.1:0', '--interval', '0.5', '-P', String(port)]);
    try {
      await until('tcptrace serve to serve', () => /serving metrics at/.test(serve.stderr) || serve.child.exitCode !== null, 15_000);
      const url = /serving metrics at (http:\/\/\S+\/metrics)/.exec(serve.stderr)?.[1];
      assert.ok(url, serve.stderr);
      const dropped = async () => {
        const text = await (await fetch(url, { signal: AbortSignal.timeout(5000) })).text();
        const value = new RegExp(`^tcptrace_listen_drops_total\\{netns="\\d+",listener="127\\.0\\.0\\.1:${port}"\\} (\\d+)$`, 'm').exec(text)?.[1];
        return value === undefined ? 0 : Number(value);
      };
      // The drops before it started are counted; more come with more connections.
      const first = await dropped();
      assert.ok(first > 0, 'the drops of the test before, as the kernel counted them');
      connectMany();
      let now = first;
      const deadline = Date.now() + 10_000;
      while (now <= first && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        now = await dropped();
      }
      assert.ok(now > first, `the counter grows as the listener drops: ${first} -> ${now}`);
    } finally {
      serve.child.kill('SIGINT');
      await serve.exited();
    }
  });
});
