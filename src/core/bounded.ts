/**
 * Runs `task` on every item with at most `limit` running at once, in order of the items; rejects
 * with the first failure once every started task has settled. For work that holds a file
 * descriptor each: all at once, a few hundred would exceed the process's open-file limit.
 */
export async function eachAtMost<T>(limit: number, items: readonly T[], task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const runner = async (): Promise<void> => {
    while (failure === undefined && next < items.length) {
      const index = next++;
      try {
        await task(items[index] as T, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
  if (failure !== undefined) throw failure.error;
}
