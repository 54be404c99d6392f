import { readFileSync } from 'node:fs';

/** Whether a process with this pid exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs a horse a test saw, if that pid is still a horse (not a recycled pid). */
export function killHorse(pid: number): void {
  try {
    if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('cli/horse.js')) process.kill(pid, 'SIGKILL');
  } catch {
    // gone
  }
}
