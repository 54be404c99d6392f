/** Issue 17's smaller traps, through the CLI: a typo'd queue name, and a camelCase key in a config file. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeRun, linesOf, runRq, useCliRedis } from '../helpers/cli.js';

const { projects, freshDb } = useCliRedis();

describe('rq worker on a queue name nobody uses', () => {
  it("warns once for a name that has no jobs and that rq:queues does not list, and listens anyway", async () => {
    const { url, queue } = freshDb();
    await queue('default').enqueue('tasks.add', 1, 2);
    await queue('default').empty();
    const r = await runRq(['worker', '--burst', '-u', url, 'default', 'defualt'], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    const warnings = linesOf(r.output).filter((l) => l.includes('has no jobs and is not known to Redis'));
    assert.deepEqual(
      warnings.map((l) => l.replace(/^\d\d:\d\d:\d\d /, '')),
      ["Queue 'defualt' has no jobs and is not known to Redis; listening anyway"],
      describeRun(r),
    );
    assert.match(r.output, /\*\*\* Listening for work on default, defualt/);
    // Without queue names the worker listens on `default`, which is no typo.
    const plain = await runRq(['worker', '--burst', '-u', freshDb().url], { cwd: projects.make() });
    assert.doesNotMatch(plain.output, /not known to Redis/, describeRun(plain));
  });
});

describe('a camelCase key in a config file', () => {
  it('is an error naming the key and its right spelling, not a setting silently ignored', async () => {
    const { url } = freshDb();
    const cwd = projects.make({ 'rq.config.ts': `export default { redisUrl: ${JSON.stringify(url)}, QUEUES: ['default'] };\n` });
    const r = await runRq(['worker', '--burst'], { cwd });
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /rq\.config\.ts: config key redisUrl is not read: the keys are upper-case, as rq's settings; write REDIS_URL/);
  });
});
