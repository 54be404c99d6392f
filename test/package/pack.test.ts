/**
 * The npm package as a user gets it (issue 17.5): `npm pack`, install the tarball into a fresh
 * project, type-check a typed producer with `strict` and `skipLibCheck: false`, run it in
 * TypeScript with jiti against a worker of the installed package. Needs the npm registry (or its
 * cache) for the package's dependencies; skipped with the reason when it cannot be reached.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { startRedis, waitFor, type RedisServer } from '../helpers/redis.js';
import { repoRoot } from '../helpers/worker.js';

const ping = spawnSync('npm', ['ping'], { encoding: 'utf8', timeout: 20_000 });
const REGISTRY = ping.status === 0 ? null : `the npm registry cannot be reached (npm ping: ${(ping.stderr || String(ping.error ?? '')).trim().split('\n').pop()}); package test skipped`;

const TASKS = `export function add(a: number, b: number): number {
  return a + b;
}
`;

const PRODUCER = `import { connect, Queue, typedQueue } from 'rq-ts';

const queue = new Queue('default', { connection: connect(process.argv[2]) });
const tasks = typedQueue<typeof import('./tasks.js')>(queue, 'tasks');
const job = await tasks.enqueue('add', 2, 3);
const sum: number = await job.waitForResult({ timeout: 30 });
console.log(JSON.stringify({ id: job.id, sum }));
queue.connection.disconnect();
`;

const BAD = `import { connect, Queue, typedQueue } from 'rq-ts';

const tasks = typedQueue<typeof import('./tasks.js')>(new Queue('default', { connection: connect() }), 'tasks');
await tasks.enqueue('add', 'two', 3);
`;

const tsconfig = (files: string[]): string =>
  JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, noEmit: true, types: ['node'] },
    files,
  });

function sizeOf(path: string): number {
  const st = statSync(path, { throwIfNoEntry: false });
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  return readdirSync(path).reduce((sum, name) => sum + sizeOf(join(path, name)), 0);
}

function run(cmd: string, args: string[], cwd: string, timeout = 120_000): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout, killSignal: 'SIGKILL' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the npm package', { skip: REGISTRY ?? false }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'rq-ts-pack-'));
  let server: RedisServer | null = null;
  after(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('installs from its tarball without warnings in under 10 MB (rq metrics and rq cron ask for the optional prom-client and cron-parser), type-checks a typed producer and runs it with jiti', { timeout: 120_000 }, async () => {
    // dist is fresh (pretest built it); prepack would only build it again.
    const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], repoRoot);
    assert.equal(packed.status, 0, packed.stderr);
    const [info] = JSON.parse(packed.stdout) as { filename: string; size: number; files: { path: string }[] }[];
    const shipped = new Set(info!.files.map((f) => f.path));
    for (const path of ['LICENSE', 'README.md', 'docs/jobs.md', 'docs/configuration.md', 'dist/lib/index.d.ts', 'dist/lib/TypedQueue.d.ts']) {
      assert.ok(shipped.has(path), `${path} is in the package`);
    }

    const app = join(dir, 'app');
    mkdirSync(app);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    writeFileSync(join(app, 'tasks.ts'), TASKS);
    writeFileSync(join(app, 'producer.ts'), PRODUCER);
    writeFileSync(join(app, 'bad.ts'), BAD);
    writeFileSync(join(app, 'tsconfig.json'), tsconfig(['producer.ts', 'tasks.ts']));
    writeFileSync(join(app, 'tsconfig.bad.json'), tsconfig(['bad.ts', 'tasks.ts']));
    const install = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', join(dir, info!.filename)], app);
    assert.equal(install.status, 0, install.stderr);
    assert.doesNotMatch(install.stderr, /warn/i, 'the install prints no warning');
    const installed = sizeOf(join(app, 'node_modules'));
    assert.ok(installed < 10 * 1024 * 1024, `npm install of the tarball takes ${(installed / 1048576).toFixed(1)} MB`);
    // @types/node is the user's own (as in any TypeScript project); installed after the size was taken.
    const types = run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', '-D', '@types/node@20'], app);
    assert.equal(types.status, 0, types.stderr);

    const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
    const good = run(process.execPath, [tsc, '-p', 'tsconfig.json'], app);
    assert.equal(good.status, 0, `the typed producer compiles:\n${good.stdout}${good.stderr}`);
    const bad = run(process.execPath, [tsc, '-p', 'tsconfig.bad.json'], app);
    assert.notEqual(bad.status, 0, 'a wrong argument type fails to compile');
    assert.match(bad.stdout, /bad\.ts\(4,\d+\): error TS2345: Argument of type 'string' is not assignable to parameter of type 'number'/);

    server = await startRedis();
    const redis = server.client();
    // `npx jiti producer.ts` as the README says (jiti comes with rq-ts); `node --import jiti/register`
    // fails on Node 20 once cosmiconfig requires jiti from CommonJS (ERR_VM_MODULE_LINK_FAILURE).
    const producer = spawn(join(app, 'node_modules/.bin/jiti'), ['producer.ts', server.url], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    producer.stdout.on('data', (d: Buffer) => (out += d.toString()));
    producer.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => producer.once('close', resolve));
    try {
      await waitFor(async () => (await redis.llen('rq:queue:default')) === 1, `the producer's job on the queue (${out})`, 30_000);
      const worker = run(process.execPath, [join(app, 'node_modules/rq-ts/dist/lib/cli/main.js'), 'worker', '--burst', '-u', server.url], app, 60_000);
      assert.equal(worker.status, 0, worker.stdout + worker.stderr);
      assert.equal(await exited, 0, out);
      assert.equal((JSON.parse(out) as { sum: number }).sum, 5);
      // prom-client is an optional peer (it and its dependencies would be a third of the install):
      // without it `rq metrics` stops at start and says what to install.
      const metrics = run(process.execPath, [join(app, 'node_modules/rq-ts/dist/lib/cli/main.js'), 'metrics', '-u', server.url, '--port', '0'], app, 30_000);
      assert.equal(metrics.status, 1, metrics.stdout + metrics.stderr);
      assert.match(metrics.stderr, /Prometheus metrics need prom-client, which is not installed: npm install prom-client/);
      // cron-parser likewise (with luxon, 5 MB): `rq cron` stops at start, exit 1, saying what to install.
      writeFileSync(join(app, 'cron.config.ts'), "import { cron } from 'rq-ts';\ncron.register('tasks.add', 'default', { interval: 60, args: [1, 2] });\n");
      const cron = run(process.execPath, [join(app, 'node_modules/rq-ts/dist/lib/cli/main.js'), 'cron', 'cron.config.ts', '-u', server.url], app, 30_000);
      assert.equal(cron.status, 1, cron.stdout + cron.stderr);
      assert.match(cron.stderr, /rq cron needs cron-parser, which is not installed: npm install cron-parser/);
    } finally {
      producer.kill('SIGKILL');
    }
  });
});
