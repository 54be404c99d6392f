/**
 * The log of the jobs a Worker's horse runs directly (lib/DirectLog.ts): what its worker reads at
 * the horse's death, written by the horse's DirectLog over an unlinked file it shares by fd.
 */
import assert from 'node:assert/strict';
import { fstatSync, openSync, writeSync } from 'node:fs';
import { describe, it } from 'node:test';
import { closeLogFile, createLogFile, DirectLog, readDirectLog, type GroupedSuccess } from '../../lib/DirectLog.js';

function success(id: string, fields: string[] = ['type', '1']): GroupedSuccess {
  return {
    id,
    queue: 'q',
    key: `rq:job:${id}`,
    dependentsKey: `rq:job:${id}:dependents`,
    dependenciesKey: `rq:job::${id}:dependencies`,
    startedAt: '2026-12-08T00:00:00.000000Z',
    endedAt: '2026-12-08T00:00:00.001000Z',
    resultTtl: 500,
    working: 0.001,
    fields,
    claimed: false,
  };
}

/** A log as a horse would have it, at fd `fd` (the worker's fd of the same file: they share it). */
function horseLog(): { fd: number; log: DirectLog } {
  const fd = createLogFile();
  assert.notEqual(fd, null, 'a log file could be created');
  return { fd: fd!, log: DirectLog.adopt(fd!) };
}

describe('DirectLog', () => {
  it('tells which job was running and which successes were logged, with what rqFinishMany needs', () => {
    const { fd, log } = horseLog();
    log.took(['q', 'a', 'q', 'b', 'q', 'c', 'q', 'd']);
    assert.ok(log.started('q', 'a'));
    log.finished(success('a', ['type', '1', 'return_value', 'gAN9']));
    assert.ok(log.started('q', 'b'));
    let seen = readDirectLog(fd);
    assert.deepEqual(seen.running, { queue: 'q', id: 'b' });
    assert.deepEqual(seen.finished, [success('a', ['type', '1', 'return_value', 'gAN9'])]);
    assert.deepEqual(seen.held.map((h) => h.id), ['c', 'd'], 'held: taken, not started');
    // b ends; its line waits for the next write: until then b counts as running (failed at a death).
    log.finished(success('b'));
    assert.deepEqual(readDirectLog(fd).running, { queue: 'q', id: 'b' });
    log.flush();
    seen = readDirectLog(fd);
    assert.equal(seen.running, null);
    assert.deepEqual(seen.finished.map((e) => e.id), ['a', 'b']);
    closeLogFile(fd);
  });

  it('a job given back and taken again is held again; one started by a call is not held', () => {
    const { fd, log } = horseLog();
    log.took(['q', 'a', 'q', 'b', 'q', 'c']);
    log.released(['a', 'b'], 7);
    let seen = readDirectLog(fd);
    assert.deepEqual(seen.held.map((h) => h.id), ['c']);
    // With the last call sent when they were given back: a later call's summary that took one again counts.
    assert.deepEqual([...seen.released], [['a', 7], ['b', 7]]);
    log.took(['q', 'b']);
    log.left('c');
    assert.ok(log.started('q', 'b'));
    seen = readDirectLog(fd);
    assert.deepEqual(seen.held, []);
    assert.deepEqual([...seen.released], [['a', 7]], 'b was taken again after it was given back');
    assert.deepEqual(seen.running, { queue: 'q', id: 'b' });
    closeLogFile(fd);
  });

  it('starts over past 64 KiB with what still matters: held jobs, unconfirmed successes, the running job', () => {
    const { fd, log } = horseLog();
    const big = ['type', '1', 'return_value', 'x'.repeat(1000)];
    for (let i = 0; i < 100; i++) {
      log.took(['q', `j${i}`, 'q', `k${i}`]);
      assert.ok(log.started('q', `j${i}`));
      log.finished(success(`j${i}`, big));
      // Redis recorded all but the last 3.
      if (i >= 3) log.confirmed([`j${i - 3}`]);
      log.left(`k${i}`);
    }
    log.took(['q', 'held1']);
    assert.ok(log.started('q', 'last'));
    const seen = readDirectLog(fd);
    assert.deepEqual(seen.running, { queue: 'q', id: 'last' });
    // j97..j99 are unconfirmed; what was confirmed before the last start-over is gone from the file.
    const ids = seen.finished.map((e) => e.id);
    for (const id of ['j97', 'j98', 'j99']) assert.ok(ids.includes(id), `${id} kept: ${ids.join(',')}`);
    assert.ok(!ids.includes('j10'), 'confirmed successes do not outlive a start-over');
    assert.deepEqual(seen.held.map((h) => h.id), ['held1']);
    closeLogFile(fd);
  });

  it('a start-over while a job runs keeps its S line (jobs taken ahead meanwhile are written at once)', () => {
    const { fd, log } = horseLog();
    const big = ['type', '1', 'return_value', 'x'.repeat(2000)];
    for (let i = 0; i < 20; i++) {
      assert.ok(log.started('q', `j${i}`));
      log.finished(success(`j${i}`, big));
      log.confirmed([`j${i}`]);
    }
    assert.ok(log.started('q', 'running'));
    // Jobs taken ahead and started by calls since, while 'running' runs: past 64 KiB of log.
    const pairs: string[] = [];
    for (let k = 0; k < 2500; k++) pairs.push('q', `b${k}`);
    log.took(pairs);
    for (let k = 0; k < 2500; k++) log.left(`b${k}`);
    const before = fstatSync(fd).size;
    assert.ok(before > 65536, `${before} bytes`);
    // The next reply's take is the write that starts the log over.
    log.took(['q', 'next1', 'q', 'next2']);
    assert.ok(fstatSync(fd).size < 1024, `started over: ${fstatSync(fd).size} bytes`);
    const seen = readDirectLog(fd);
    assert.deepEqual(seen.running, { queue: 'q', id: 'running' });
    assert.deepEqual(seen.held.map((h) => h.id), ['next1', 'next2']);
    assert.deepEqual(seen.finished, [], 'recorded successes do not outlive a start-over');
    closeLogFile(fd);
  });

  it('a line cut short by the death is skipped; what came before it counts', () => {
    const { fd, log } = horseLog();
    assert.ok(log.started('q', 'a'));
    log.finished(success('a'));
    assert.ok(log.started('q', 'b'));
    // The horse's next line, half written when it died.
    const other = openSync(`/proc/self/fd/${fd}`, 'a');
    writeSync(other, '["F","b","q","rq:j');
    closeLogFile(other);
    const seen = readDirectLog(fd);
    assert.deepEqual(seen.finished.map((e) => e.id), ['a']);
    assert.deepEqual(seen.running, { queue: 'q', id: 'b' });
    closeLogFile(fd);
  });
});
