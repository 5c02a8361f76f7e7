import type { Terminal } from "./output.js";

/**
 * A progress bar on stderr while `work` runs, when stderr is a terminal and not quiet. The bar
 * library is loaded only then: it costs ~13 ms of start-up that -q, --json and pipes never use.
 */
export async function withProgress<T>(
  terminal: Terminal,
  quiet: boolean,
  label: string,
  measure: () => { done: number; total: number | undefined },
  work: () => Promise<T>,
): Promise<T> {
  if (quiet || !terminal.stderr.isTTY) return work();
  const { default: cliProgress } = await import("cli-progress");
  const bar = new cliProgress.SingleBar(
    { stream: terminal.stderr as NodeJS.WritableStream, format: `${label} [{bar}] {percentage}% | {value}/{total} MB`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  const toMb = (bytes: number): number => Math.round(bytes / 1e6);
  const first = measure();
  bar.start(toMb(first.total ?? 0), 0);
  const timer = setInterval(() => {
    const { done, total } = measure();
    bar.setTotal(toMb(total ?? done));
    bar.update(toMb(done));
  }, 100);
  try {
    return await work();
  } finally {
    clearInterval(timer);
    bar.stop();
  }
}
