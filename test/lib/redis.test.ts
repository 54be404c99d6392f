import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { describe, it } from 'node:test';
import { Redis } from 'ioredis';
import {
  InvalidRedisUrlError,
  Job,
  NoSuchJobError,
  Queue,
  RedisConnectionError,
  StartedJobRegistry,
  assertReachable,
  connect,
  describeConnection,
  keysOf,
  redactUrl,
  redisOptionsFromUrl,
} from '../../lib/index.js';
import { startRedis, useRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;
let redis: Redis;

useRedis((s, r) => {
  server = s;
  redis = r;
});

/** Runs `body` with connections it makes, and disconnects them all afterwards. */
async function withConnections(body: (track: <T extends Redis>(c: T) => T) => Promise<void>): Promise<void> {
  const made: Redis[] = [];
  try {
    await body((c) => {
      made.push(c);
      return c;
    });
  } finally {
    for (const c of made) c.disconnect();
  }
}

describe('redisOptionsFromUrl', () => {
  it('redis://host', () => {
    assert.deepEqual(redisOptionsFromUrl('redis://localhost'), { host: 'localhost', port: 6379 });
    assert.deepEqual(redisOptionsFromUrl('redis://redis.example.com:6380/'), { host: 'redis.example.com', port: 6380 });
  });

  it('rediss:// sets tls', () => {
    const o = redisOptionsFromUrl('rediss://secure.example.com:6390/1');
    assert.equal(o.host, 'secure.example.com');
    assert.equal(o.port, 6390);
    assert.equal(o.db, 1);
    assert.ok(o.tls, 'tls is set');
    assert.equal(redisOptionsFromUrl('redis://plain').tls, undefined, 'no tls for redis://');
  });

  it('unix:///path?db=3', () => {
    assert.deepEqual(redisOptionsFromUrl('unix:///var/run/redis/redis.sock?db=3'), { path: '/var/run/redis/redis.sock', db: 3 });
    assert.deepEqual(redisOptionsFromUrl('unix:///tmp/r.sock'), { path: '/tmp/r.sock' });
  });

  it('user, password, port and db', () => {
    assert.deepEqual(redisOptionsFromUrl('redis://user:pass@host:1234/9'), { username: 'user', password: 'pass', host: 'host', port: 1234, db: 9 });
  });

  it('password without a user', () => {
    assert.deepEqual(redisOptionsFromUrl('redis://:secret@host/2'), { password: 'secret', host: 'host', port: 6379, db: 2 });
  });

  it('percent-encoded credentials and IPv6 hosts', () => {
    const o = redisOptionsFromUrl('redis://us%3Aer:p%40ss%2Fw@[::1]:6380');
    assert.equal(o.username, 'us:er');
    assert.equal(o.password, 'p@ss/w');
    assert.equal(o.host, '::1');
    assert.equal(o.port, 6380);
  });

  for (const url of ['http://x', 'redis://host/abc', 'not a url', 'unix://', 'redis://host:99999', 'redis://host/-1']) {
    it(`rejects ${JSON.stringify(url)} with InvalidRedisUrlError`, () => {
      assert.throws(() => redisOptionsFromUrl(url), InvalidRedisUrlError);
      assert.throws(() => connect(url), InvalidRedisUrlError, 'connect() validates too');
    });
  }

  for (const url of ['http://user:hunter2@x', 'redis://user:hunter2@host/abc', 'redis://:hunter2@host/abc', 'redis://:hunter2@host:99999', 'ftp://hunter2@x']) {
    it(`does not reveal the password of ${url.replace('hunter2', '***')} in the error message`, () => {
      assert.throws(
        () => redisOptionsFromUrl(url),
        (e: unknown) => e instanceof InvalidRedisUrlError && !e.message.includes('hunter2') && e.message.includes('***'),
      );
    });
  }

  it('does not reveal the password anywhere in the error as logged (cause included)', () => {
    // console.error(err) prints the cause chain; node's URL TypeError keeps the whole input in `input`.
    for (const url of ['redis://:hunter2@host:99999', 'redis://user:hunter2@host/abc']) {
      assert.throws(
        () => redisOptionsFromUrl(url),
        (e: unknown) => e instanceof InvalidRedisUrlError && !inspect(e, { depth: 5 }).includes('hunter2'),
        url,
      );
    }
  });
});

describe('redactUrl', () => {
  it('hides passwords and keeps everything else', () => {
    assert.equal(redactUrl('redis://user:secret@host:1234/9'), 'redis://user:***@host:1234/9');
    assert.equal(redactUrl('redis://:secret@host/2'), 'redis://:***@host/2');
    assert.equal(redactUrl('rediss://token@host'), 'rediss://***@host');
    assert.equal(redactUrl('redis://host:6379/0'), 'redis://host:6379/0');
    assert.equal(redactUrl('unix:///tmp/redis.sock?db=3'), 'unix:///tmp/redis.sock?db=3');
  });

  it("hides all of a password that contains an unencoded '@' (which URL parsing accepts)", () => {
    assert.equal(redisOptionsFromUrl('redis://u:p@ss@host').password, 'p@ss', 'such a URL connects');
    const redacted = redactUrl('redis://u:p@ss@host');
    assert.ok(!redacted.includes('ss@'), `password leaks: ${redacted}`);
    assert.equal(redacted, 'redis://u:***@host');
  });
});

describe('connect', () => {
  it('returns an ioredis instance as it is', async () => {
    await withConnections(async (track) => {
      const instance = track(new Redis({ host: '127.0.0.1', port: server.port }));
      const c = connect(instance);
      assert.equal(c, instance);
      assert.equal(await c.ping(), 'PONG');
      assert.equal(keysOf(c).queue('default'), 'rq:queue:default', 'default prefix');
    });
  });

  it('refuses an ioredis instance with keyPrefix', async () => {
    await withConnections(async (track) => {
      const prefixed = track(new Redis({ host: '127.0.0.1', port: server.port, keyPrefix: 'app:', lazyConnect: true }));
      assert.throws(() => connect(prefixed), (e: unknown) => e instanceof InvalidRedisUrlError && e.message.includes('keyPrefix'));
    });
  });

  it('connects from a URL string, with its db', async () => {
    await withConnections(async (track) => {
      const c = track(connect(`${server.url}/3`));
      assert.equal(c.options.host, '127.0.0.1');
      assert.equal(c.options.port, server.port);
      assert.equal(c.options.db, 3);
      await c.set('marker', 'db3');
      assert.equal(await redis.get('marker'), null, 'not written to db 0');
      const db3 = track(new Redis({ host: '127.0.0.1', port: server.port, db: 3 }));
      assert.equal(await db3.get('marker'), 'db3');
      await db3.flushdb();
    });
  });

  it('connects from settings; separate fields override the URL', async () => {
    await withConnections(async (track) => {
      const c = track(connect({ host: '127.0.0.1', port: server.port, db: 2 }));
      await c.set('marker', 'db2');
      const viaUrl = track(connect({ url: 'redis://nowhere.invalid:1/0', host: '127.0.0.1', port: server.port, db: 2 }));
      assert.equal(await viaUrl.get('marker'), 'db2');
      assert.equal(await redis.get('marker'), null);
      assert.equal(describeConnection(c), `redis://127.0.0.1:${server.port}/2`);
      await c.flushdb();
    });
  });

  it('rejects bad port and db settings', () => {
    assert.throws(() => connect({ port: 70000, redisOptions: { lazyConnect: true } }), InvalidRedisUrlError);
    assert.throws(() => connect({ port: 6379, db: -1, redisOptions: { lazyConnect: true } }), InvalidRedisUrlError);
  });

  it("a custom prefix '{rq}:' puts every key under it and nothing under rq:", async () => {
    await withConnections(async (track) => {
      const c = track(connect({ url: server.url, prefix: '{rq}:' }));
      const q = new Queue('default', { connection: c });
      const job = await q.enqueue('tasks.add', 1, 2);
      assert.deepEqual((await redis.keys('*')).sort(), ['{rq}:job:' + job.id, '{rq}:queue:default', '{rq}:queues'].sort());
      assert.deepEqual(await redis.keys('rq:*'), []);
      assert.deepEqual(await redis.lrange('{rq}:queue:default', 0, -1), [job.id]);
      assert.deepEqual(await redis.smembers('{rq}:queues'), ['{rq}:queue:default']);
      assert.equal(job.key, `{rq}:job:${job.id}`);
      assert.equal(new StartedJobRegistry('default', { connection: c }).key, '{rq}:wip:default');
      assert.equal((await Job.fetch(job.id, { connection: c })).funcName, 'tasks.add');
      await assert.rejects(Job.fetch(job.id, { connection: redis }), NoSuchJobError, 'a default-prefix connection does not see it');
    });
  });
});

describe('assertReachable', () => {
  it('resolves for a live server', async () => {
    await assertReachable(redis, 2000);
  });

  it('rejects at once with RedisConnectionError naming host:port when the connection is refused', async () => {
    const dead = await startRedis();
    const port = dead.port;
    await dead.stop();
    await withConnections(async (track) => {
      const c = track(connect({ host: '127.0.0.1', port }));
      c.on('error', () => {}); // ioredis reports each refused reconnect; expected here
      const started = Date.now();
      await assert.rejects(
        assertReachable(c, 5000),
        (e: unknown) => e instanceof RedisConnectionError && e.message.includes(`127.0.0.1:${port}`) && e.message.includes('ECONNREFUSED'),
      );
      const elapsed = Date.now() - started;
      assert.ok(elapsed < 2000, `does not wait for the 5 s timeout (rejected after ${elapsed} ms)`);
    });
  });

  it('rejects after the timeout when the server accepts but never answers', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((ok) => silent.listen(0, '127.0.0.1', ok));
    const { port } = silent.address() as { port: number };
    try {
      await withConnections(async (track) => {
        const c = track(connect({ host: '127.0.0.1', port }));
        c.on('error', () => {});
        const started = Date.now();
        await assert.rejects(
          assertReachable(c, 300),
          (e: unknown) => e instanceof RedisConnectionError && e.message.includes(`127.0.0.1:${port}`) && e.message.includes('within 300 ms'),
        );
        const elapsed = Date.now() - started;
        assert.ok(elapsed >= 250 && elapsed < 2000, `rejected after ${elapsed} ms`);
      });
    } finally {
      silent.close();
    }
  });

  it('rejects with RedisConnectionError naming host:port when the command fails fast', async () => {
    const dead = await startRedis();
    const port = dead.port;
    await dead.stop();
    await withConnections(async (track) => {
      const c = track(connect({ host: '127.0.0.1', port, redisOptions: { enableOfflineQueue: false, lazyConnect: true } }));
      c.on('error', () => {});
      const started = Date.now();
      await assert.rejects(
        assertReachable(c, 5000),
        (e: unknown) => e instanceof RedisConnectionError && e.message.includes(`127.0.0.1:${port}`),
      );
      assert.ok(Date.now() - started < 2000, 'does not wait for the timeout');
    });
  });
});
