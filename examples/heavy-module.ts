/** Stands for a module that is slow to import (a big dependency tree, tables built at load time). */
export const name = 'heavy-module';

function build(): number[] {
  const out: number[] = [];
  for (let i = 0; i < 3_000_000; i++) out.push((i * 2654435761) % 4294967296);
  return out;
}

export const table = build();

export function lookup(i: number): number {
  return table[i % table.length] ?? 0;
}
