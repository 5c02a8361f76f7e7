/**
 * Go's text/tabwriter (as docker/cli forks it, with rune widths) for docker's `table` formats:
 * cells end at a tab, a column is the run of lines with a cell in it, and each column is as wide
 * as its widest cell plus the padding, at least `minWidth`. docker uses minwidth 10, padding 3 and
 * spaces (formatter.Context.postFormat); the last cell of a line is written as it is.
 */

interface Cell {
  text: string;
  width: number;
}

/** Display width: East Asian wide characters take two columns, as go-runewidth counts them. */
function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const wide =
      (code >= 0x1100 && code <= 0x115f) ||
      (code >= 0x2e80 && code <= 0xa4cf && code !== 0x303f) ||
      (code >= 0xac00 && code <= 0xd7a3) ||
      (code >= 0xf900 && code <= 0xfaff) ||
      (code >= 0xfe30 && code <= 0xfe4f) ||
      (code >= 0xff00 && code <= 0xff60) ||
      (code >= 0xffe0 && code <= 0xffe6) ||
      (code >= 0x1f300 && code <= 0x1f64f) ||
      (code >= 0x1f900 && code <= 0x1f9ff) ||
      (code >= 0x20000 && code <= 0x3fffd);
    width += wide ? 2 : 1;
  }
  return width;
}

export function tabulate(text: string, minWidth = 10, padding = 3): string {
  const lines: Cell[][] = text.split("\n").map((line) => line.split("\t").map((cell) => ({ text: cell, width: displayWidth(cell) })));
  const widths: number[] = [];
  let out = "";

  const writeLines = (from: number, to: number): void => {
    for (let i = from; i < to; i++) {
      const line = lines[i]!;
      line.forEach((cell, j) => {
        out += cell.text;
        if (j < widths.length) out += " ".repeat(Math.max((widths[j] ?? 0) - cell.width, 0));
      });
      if (i + 1 < lines.length) out += "\n";
    }
  };

  // Go's Writer.format: a column block is the run of lines with a cell in this column; the last
  // cell of a line belongs to no column.
  const format = (line0: number, line1: number): void => {
    const column = widths.length;
    let from = line0;
    for (let current = line0; current < line1; current++) {
      if (column >= lines[current]!.length - 1) continue;
      writeLines(from, current);
      from = current;
      let width = minWidth;
      for (; current < line1; current++) {
        const line = lines[current]!;
        if (column >= line.length - 1) break;
        width = Math.max(width, line[column]!.width + padding);
      }
      widths.push(width);
      format(from, current);
      widths.pop();
      from = current;
      current--;
    }
    writeLines(from, line1);
  };

  format(0, lines.length);
  return out;
}
