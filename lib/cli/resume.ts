import { Command } from './commander.js';
import { openCli } from './context.js';
import { addSharedOptions, type SharedFlags } from './shared.js';
import { out } from './style.js';

/** `rq resume`: deletes `rq:suspended`; suspended workers pick up jobs again within a second. */
export function resumeCommand(): Command {
  const cmd = new Command('resume').description('Resumes processing of queues, that were suspended with `rq suspend`');
  addSharedOptions(cmd);
  cmd.action(async (flags: SharedFlags) => {
    process.exitCode = await runResume(flags);
  });
  return cmd;
}

export async function runResume(flags: SharedFlags): Promise<number> {
  const cli = await openCli(flags);
  try {
    await cli.connection.del(cli.keys.suspended);
  } finally {
    cli.close();
  }
  out('Resuming workers.');
  return 0;
}
