/** ListenDrops: which listeners dropped while watched, how fast, and the cumulative counts serve exports. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ListenerNow } from '../../src/kernel/decoder';
import { ListenDrops } from '../../src/model/listen-drops';
import { NamespaceCounts } from '../../src/model/state-counts';

function listener(skaddr: string, sport: number, listenDrops: number, acceptQueue = 0): ListenerNow {
  return { skaddr, family: 4, saddr: '127.0.0.1', sport, netns: 7, acceptQueue, acceptQueueLimit: 128, listenDrops, owner: { pid: 42, comm: 'app' } };
}

function counted(...listeners: ListenerNow[]): NamespaceCounts[] {
  return [{ netns: 7, counts: [], listeners, own: true, holder: { inode: 7, name: null, pod: null, podUid: null, container: null } }];
}

test('a listener is dropping once its count grows past what it was when first seen', () => {
  const drops = new ListenDrops();
  drops.update(counted(listener('a', 8080, 100), listener('b', 9090, 0)));
  assert.deepEqual(drops.droppingNow(), [], 'drops before tcptrace saw it are not "while watched"');
  assert.deepEqual(drops.cumulative(), [{ netns: 7, listener: '127.0.0.1:8080', drops: 100 }], 'but the kernel counted them: the counter starts there');

  drops.update(counted(listener('a', 8080, 130, 129), listener('b', 9090, 0)));
  assert.deepEqual(drops.droppingNow(), [{
    netns: 7, listener: '127.0.0.1:8080', owner: { pid: 42, comm: 'app' }, acceptQueue: 129, acceptQueueLimit: 128, droppedWhileWatched: 30, droppedLastRefresh: 30,
  }]);
  drops.update(counted(listener('a', 8080, 130), listener('b', 9090, 5)));
  assert.deepEqual(drops.droppingNow().map((d) => [d.listener, d.droppedWhileWatched, d.droppedLastRefresh]),
    [['127.0.0.1:9090', 5, 5], ['127.0.0.1:8080', 30, 0]], 'the one dropping now first');
});

test('a listener restarted on the same address adds to its address\'s count; one gone is no longer dropping', () => {
  const drops = new ListenDrops();
  drops.update(counted(listener('a', 8080, 10)));
  drops.update(counted(listener('a', 8080, 15)));
  // The program restarted: a new socket, its count from 0.
  drops.update(counted(listener('c', 8080, 0)));
  drops.update(counted(listener('c', 8080, 4)));
  assert.deepEqual(drops.cumulative(), [{ netns: 7, listener: '127.0.0.1:8080', drops: 19 }]);
  assert.deepEqual(drops.droppingNow().map((d) => d.droppedWhileWatched), [4]);
  drops.update(counted());
  assert.deepEqual(drops.droppingNow(), []);
  assert.deepEqual(drops.cumulative(), [{ netns: 7, listener: '127.0.0.1:8080', drops: 19 }], 'a counter keeps what it counted');
});
