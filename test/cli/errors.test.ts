/**
 * `rq worker` on bad input: exit code 2 for usage errors (flags, config, dotted paths) and 1 when
 * Redis cannot be reached; one clear line on stderr naming what is wrong, and no stack trace unless
 * --verbose. Also `--help`, through the real binary.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { JOBS_TS, HELP_HINT, Projects, describeRun, freePort, linesOf, runRq, type RunResult } from '../helpers/cli.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

let server: RedisServer;
const projects = new Projects();
let lastDb = 0;

before(async () => {
  server = await startRedis(['--databases', '64']);
});
after(async () => {
  projects.cleanup();
  await server.stop();
});

const freshUrl = (): string => `${server.url}/${++lastDb}`;

/** Exit 2 (or `code`), nothing on stdout, exactly one error line on stderr (commander's help hint aside), no stack. */
function assertOneLineError(r: RunResult, pattern: RegExp, code = 2): string {
  assert.equal(r.code, code, describeRun(r));
  assert.equal(r.stdout, '', `nothing on stdout; ${describeRun(r)}`);
  const lines = linesOf(r.stderr).filter((l) => !HELP_HINT.test(l));
  assert.equal(lines.length, 1, `one error line expected; ${describeRun(r)}`);
  assert.ok(!/^\s+at /m.test(r.stderr), `no stack trace without --verbose; ${describeRun(r)}`);
  assert.match(lines[0]!, pattern);
  return lines[0]!;
}

describe('rq worker: bad flags', { concurrency: 6 }, () => {
  const cases: [string, string[], RegExp][] = [
    ['an unknown flag', ['--bogus'], /unknown option '--bogus'/],
    ['an unknown short flag', ['-Z'], /unknown option '-Z'/],
    ['--max-jobs abc', ['--max-jobs', 'abc'], /--max-jobs.*'abc'.*whole number/],
    ['--max-jobs 0', ['--max-jobs', '0'], /--max-jobs.*'0'/],
    ['--results-ttl -5', ['--results-ttl', '-5'], /--results-ttl.*'-5'.*-1/],
    ['--results-ttl 1.5', ['--results-ttl', '1.5'], /--results-ttl.*'1\.5'/],
    ['--worker-ttl 0', ['--worker-ttl', '0'], /--worker-ttl.*'0'/],
    ['--job-monitoring-interval x', ['--job-monitoring-interval', 'x'], /--job-monitoring-interval.*'x'/],
    ['--horse-max-jobs -1', ['--horse-max-jobs', '-1'], /--horse-max-jobs/],
    ['--batch 0', ['--batch', '0'], /--batch.*'0'.*whole number >= 1/],
    ['--batch abc', ['--batch', 'abc'], /--batch.*'abc'.*whole number >= 1/],
    ['--logging_level LOUD', ['--logging_level', 'LOUD'], /--logging_level.*LOUD/],
    ['a flag missing its value', ['--name'], /--name.*argument missing/],
    ['an unknown command', [], /unknown command 'nosuchcommand'/],
  ];
  for (const [title, args, pattern] of cases) {
    it(`${title}: exit 2, one line naming it`, async () => {
      const argv = title === 'an unknown command' ? ['nosuchcommand'] : ['worker', '-b', '-u', freshUrl(), ...args];
      const r = await runRq(argv, { cwd: projects.make() });
      assertOneLineError(r, pattern);
    });
  }

  it('-u with an invalid URL: exit 2 naming the URL', async () => {
    const r = await runRq(['worker', '-b', '-u', 'http://example.com'], { cwd: projects.make() });
    assertOneLineError(r, /Invalid Redis URL http:\/\/example\.com.*redis:\/\//);
  });

  it('-u with a bad database number: exit 2', async () => {
    const r = await runRq(['worker', '-b', '-u', `${server.url}/notadb`], { cwd: projects.make() });
    assertOneLineError(r, /database "notadb"/);
  });
});

describe('rq worker: bad config', { concurrency: 6 }, () => {
  it('a config module that throws: exit 2, one line naming the module and the error', async () => {
    const dir = projects.make({ 'settings.ts': "throw new Error('kaboom in settings');\n" });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assertOneLineError(r, /Cannot load config "settings".*kaboom in settings/);
  });

  it('--verbose adds the stack trace to the same error', async () => {
    const dir = projects.make({ 'settings.ts': "throw new Error('kaboom in settings');\n" });
    const r = await runRq(['worker', '-b', '-c', 'settings', '--verbose'], { cwd: dir });
    assert.equal(r.code, 2, describeRun(r));
    assert.match(r.stderr, /kaboom in settings/);
    assert.match(r.stderr, /^\s+at /m, `a stack trace with --verbose; ${describeRun(r)}`);
  });

  it('a discovered rq.config.ts that throws: exit 2 naming the file', async () => {
    const dir = projects.make({ 'rq.config.ts': "throw new Error('broken discovered config');\n" });
    const r = await runRq(['worker', '-b'], { cwd: dir });
    assertOneLineError(r, /rq\.config\.ts.*broken discovered config/);
  });

  it('a config module with a syntax error: exit 2, one line naming the file', async () => {
    const dir = projects.make({ 'settings.ts': "export const REDIS_URL = 'redis://x' +;\n" });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assertOneLineError(r, /settings(\.ts)?.*(Syntax|Parse|Unexpected)/i);
  });

  it('a .rqrc.json that is not JSON: exit 2 naming the file', async () => {
    const dir = projects.make({ '.rqrc.json': '{ "REDIS_URL": ' });
    const r = await runRq(['worker', '-b'], { cwd: dir });
    assertOneLineError(r, /\.rqrc\.json/);
  });

  it('-c naming a module that does not exist: exit 2, the tried files named', async () => {
    const r = await runRq(['worker', '-b', '-c', 'nosuch.settings'], { cwd: projects.make() });
    assertOneLineError(r, /Cannot load config "nosuch\.settings".*nosuch\/settings\.ts/);
  });

  it('a bad value: exit 2, one line naming the config, the key and what is allowed', async () => {
    const dir = projects.make({ 'settings.ts': "export const RESULTS_TTL = 'abc';\n" });
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-c', 'settings'], { cwd: dir });
    assertOneLineError(r, /settings.*RESULTS_TTL.*"abc".*whole number/);
  });

  it('QUEUES that is not a list of strings: exit 2 naming the key', async () => {
    const dir = projects.make({ 'settings.ts': 'export const QUEUES = [1, 2];\n' });
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-c', 'settings'], { cwd: dir });
    assertOneLineError(r, /QUEUES.*list of strings/);
  });

  it('a bad environment value (RQ_RESULTS_TTL=abc): exit 2 naming the variable', async () => {
    const r = await runRq(['worker', '-b', '-u', freshUrl()], { cwd: projects.make(), env: { RQ_RESULTS_TTL: 'abc' } });
    assertOneLineError(r, /RQ_RESULTS_TTL.*whole number/);
  });

  it('a config that is not an object (.rqrc.json holding a list): exit 2', async () => {
    const dir = projects.make({ '.rqrc.json': '["REDIS_URL"]' });
    const r = await runRq(['worker', '-b'], { cwd: dir });
    assertOneLineError(r, /\.rqrc\.json.*object/);
  });

  it('an unknown config key: a warning with "did you mean", the worker still runs (exit 0)', async () => {
    const url = freshUrl();
    const dir = projects.make({ 'jobs.ts': JOBS_TS, 'settings.ts': `export const REDIS_URL = ${JSON.stringify(url)};\nexport const QEUES = ['x'];\n` });
    const r = await runRq(['worker', '-b', '-c', 'settings'], { cwd: dir });
    assert.equal(r.code, 0, describeRun(r));
    const warning = linesOf(r.stderr).find((l) => l.includes('QEUES'));
    assert.ok(warning, describeRun(r));
    assert.match(warning, /settings.*unknown config key QEUES \(did you mean QUEUES\?\)/);
    assert.ok(r.output.includes('*** Listening for work on default'), 'the unknown key is ignored');
  });
});

describe('rq worker: bad dotted paths', { concurrency: 6 }, () => {
  it('-w nosuch.Worker: exit 2, one line naming the path and the files tried', async () => {
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-w', 'nosuch.Worker'], { cwd: projects.make() });
    const line = assertOneLineError(r, /Cannot resolve "nosuch\.Worker" \(--worker-class\)/);
    assert.match(line, /nosuch\.ts/);
    assert.match(line, /installed packages/);
  });

  it('-w mod.Missing where mod exists: names the module file and the missing export', async () => {
    const dir = projects.make({ 'mod.ts': 'export const Other = 1;\n' });
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-w', 'mod.Missing'], { cwd: dir });
    assertOneLineError(r, /Cannot resolve "mod\.Missing" \(--worker-class\): module "mod" \(.*mod\.ts\) has no export "Missing"/);
  });

  it('-w naming a module that fails to import: names the file and the error', async () => {
    const dir = projects.make({ 'mod.ts': "throw new Error('import-time failure');\nexport class W {}\n" });
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-w', 'mod.W'], { cwd: dir });
    assertOneLineError(r, /mod\.W.*mod\.ts.*import-time failure/);
  });

  it('a path naming a function where a class is needed (-w jobs.add): exit 2', async () => {
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-w', 'jobs.add'], { cwd: projects.make({ 'jobs.ts': JOBS_TS }) });
    assertOneLineError(r, /"jobs\.add" \(--worker-class\) is a function, but a class is needed/);
  });

  it('a path without a module part (-w Worker): exit 2 with the expected form', async () => {
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-w', 'Worker'], { cwd: projects.make() });
    assertOneLineError(r, /"Worker".*module\.path\.Name/);
  });

  it('DEATH_PENALTY_CLASS that does not resolve: names the key', async () => {
    const dir = projects.make({ 'settings.ts': "export const DEATH_PENALTY_CLASS = 'nowhere.Penalty';\n" });
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '-c', 'settings'], { cwd: dir });
    assertOneLineError(r, /nowhere\.Penalty.*DEATH_PENALTY_CLASS/);
  });

  it('--plugin naming something without apply(): exit 2', async () => {
    const dir = projects.make({ 'plug.ts': 'export class NotAPlugin {}\n' });
    const r = await runRq(['worker', '-b', '-u', freshUrl(), '--plugin', 'plug.NotAPlugin'], { cwd: dir });
    assertOneLineError(r, /plug\.NotAPlugin.*not a plugin/);
  });
});

describe('rq worker: Redis unreachable', () => {
  it('exit 1, fast, one line naming the address', async () => {
    const port = await freePort();
    const r = await runRq(['worker', '-b', '-u', `redis://127.0.0.1:${port}/0`], { cwd: projects.make(), timeoutMs: 15_000 });
    // Fast: the first refusal answers (ECONNREFUSED), not the 5 s reachability timeout nor ioredis'
    // retries. Said by the message, not by a time bound: 0.4 s alone, but over 8 s with two test
    // suites on the machine (the checkout before the early horse as well).
    assertOneLineError(r, new RegExp(`Cannot connect to Redis at redis://127\\.0\\.0\\.1:${port}/0: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}$`), 1);
  });

  it('REDIS_HOST/REDIS_PORT from the environment pointing nowhere: exit 1', async () => {
    const port = await freePort();
    const r = await runRq(['worker', '-b'], { cwd: projects.make(), env: { REDIS_HOST: '127.0.0.1', REDIS_PORT: String(port) }, timeoutMs: 15_000 });
    assertOneLineError(r, new RegExp(`127\\.0\\.0\\.1:${port}`), 1);
  });
});

describe('rq --help and rq worker --help', { concurrency: 4 }, () => {
  it('rq --help: exit 0, lists the worker command and --version', async () => {
    const r = await runRq(['--help'], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout, /Usage: rq /);
    assert.match(r.stdout, /^\s+worker \[options\] \[queues\.\.\.\]/m);
    assert.match(r.stdout, /--version/);
    assert.match(r.stdout, /-h, --help/);
  });

  it('rq --version prints the version', async () => {
    const r = await runRq(['--version'], { cwd: projects.make() });
    assert.equal(r.code, 0, describeRun(r));
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });

  it('rq worker --help (and rq help worker): exit 0, every flag listed, with rq\'s defaults', async () => {
    for (const argv of [['worker', '--help'], ['worker', '-h'], ['help', 'worker']]) {
      const r = await runRq(argv, { cwd: projects.make() });
      assert.equal(r.code, 0, describeRun(r));
      const help = r.stdout;
      const flags = [
        '-b, --burst', '--logging_level <level>', '--log-format <format>', '--date-format <format>', '-n, --name <name>',
        '--results-ttl <seconds>', '--worker-ttl <seconds>', '--job-monitoring-interval <seconds>', '--disable-job-desc-logging',
        '-v, --verbose', '-q, --quiet', '--sentry-ca-certs <file>', '--sentry-debug', '--sentry-dsn <dsn>',
        '--exception-handler <path>', '--pid <file>', '-d, --disable-default-exception-handler', '--max-jobs <n>',
        '-s, --with-scheduler', '-u, --url <url>', '-c, --config <module>', '-w, --worker-class <path>', '-j, --job-class <path>',
        '--queue-class <path>', '--connection-class <path>', '-P, --path <dir>', '-S, --serializer <path>',
        '--plugin <path>', '--preload <module>', '--horse-max-jobs <n>', '--horse-max-memory <MiB>',
      ];
      for (const f of flags) assert.ok(help.includes(`  ${f} `), `${argv.join(' ')}: "${f}" missing from:\n${help}`);
      const line = (flag: string): string => help.split('\n').find((l) => l.trimStart().startsWith(flag)) ?? '';
      assert.match(line('--results-ttl'), /default: 500\)/);
      assert.match(line('--worker-ttl'), /default: 420\)/);
      assert.match(line('--job-monitoring-interval'), /default: 30\)/);
      assert.match(line('--log-format'), /default: "%\(asctime\)s %\(message\)s"\)/);
      assert.match(line('--date-format'), /default: "%H:%M:%S"\)/);
      assert.match(line('--logging_level'), /default: "INFO"\)/);
      assert.match(line('-u, --url'), /RQ_REDIS_URL/);
      assert.match(line('-c, --config'), /RQ_CONFIG/);
      assert.match(line('-w, --worker-class'), /rq\.Worker/);
      assert.match(line('-j, --job-class'), /rq\.job\.Job/);
      assert.match(line('--queue-class'), /rq\.Queue/);
    }
  });
});
