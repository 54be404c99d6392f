/**
 * Colours as rq's CLI prints them (click.style for green/red/yellow, rq's own colorizer for blue),
 * only when stdout is a terminal; piped output stays plain.
 */
export interface Style {
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  blue(text: string): string;
}

export function style(enabled: boolean = process.stdout.isTTY === true): Style {
  const click = (code: number) => (text: string) => (enabled ? `\x1b[${code}m${text}\x1b[0m` : text);
  return {
    green: click(32),
    red: click(31),
    yellow: click(33),
    blue: (text) => (enabled ? `\x1b[34m${text}\x1b[39;49;00m` : text),
  };
}

export { pythonLocalNow as pythonNow } from '../time.js';

/** One line to stdout. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}
