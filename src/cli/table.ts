// Tables as kubectl prints them.

/** Columns separated by three spaces (like kubectl's tabwriter); the last column is not padded. */
export function renderTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd((widths[i] ?? 0) + 3)))
        .join('')
        .trimEnd(),
    )
    .join('\n');
}

/** A table under a heading of a summary: indented by two spaces, `<none>` when it has no rows. */
export function indentedTable(header: string[], rows: string[][]): string[] {
  if (rows.length === 0) return ['  <none>'];
  return renderTable([header, ...rows])
    .split('\n')
    .map((l) => `  ${l}`);
}
