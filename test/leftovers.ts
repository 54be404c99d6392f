/**
 * Run after the suite (npm's `posttest`): fails when a process the suite started is still running — a
 * worker, a horse, a redis-server, a Python worker — and ends it, so a machine is left clean. Such a
 * process runs in one of this checkout's tagged temporary folders (redis-server moves into its --dir),
 * names one in its arguments, or runs this checkout's dist/.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { CHECKOUT_TAG, TEMP_PREFIX, checkoutRoot } from './helpers/checkout.js';

interface Proc {
  pid: number;
  args: string;
}

function ours(): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    let args = '';
    let cwd = '';
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      // gone meanwhile, or not ours to read
    }
    if (args === '') continue;
    if (cwd.startsWith(TEMP_PREFIX) || args.includes(`rq-ts-${CHECKOUT_TAG}-`) || args.includes(`${checkoutRoot}dist/`)) found.push({ pid, args });
  }
  return found;
}

// A process the last test file stopped may still be on its way out.
let left = ours();
for (let waited = 0; left.length > 0 && waited < 5000; waited += 250) {
  await new Promise((r) => setTimeout(r, 250));
  left = ours();
}
if (left.length > 0) {
  process.stderr.write(`The test suite left ${left.length} process(es) running; ending them:\n${left.map((p) => `  ${p.pid} ${p.args.slice(0, 200)}`).join('\n')}\n`);
  for (const p of left) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  process.exitCode = 1;
} else {
  process.stdout.write('No process of the test suite left running.\n');
}
