import { expect, it } from "vitest";
import { eachAtMost } from "../../src/core/bounded.js";

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 1));

it("runs every task, never more than the limit at once, starting them in order", async () => {
  let running = 0;
  let most = 0;
  const started: number[] = [];
  await eachAtMost(3, [10, 11, 12, 13, 14, 15, 16], async (item, index) => {
    started.push(item - 10);
    expect(index).toBe(item - 10);
    running++;
    most = Math.max(most, running);
    await tick();
    running--;
  });
  expect(started).toEqual([0, 1, 2, 3, 4, 5, 6]);
  expect(most).toBe(3);
});

it("rejects with the first failure, starts nothing after it, and waits for the tasks already running", async () => {
  const settled: number[] = [];
  const run = eachAtMost(2, [0, 1, 2, 3, 4], async (item) => {
    await tick();
    if (item === 1) throw new Error(`task ${item} failed`);
    if (item === 2) await tick();
    settled.push(item);
  });
  await expect(run).rejects.toThrow(/^task 1 failed$/);
  expect(settled).toEqual([0, 2]);
});

it("does nothing for no items", async () => {
  await eachAtMost(4, [], () => Promise.reject(new Error("not called")));
});
