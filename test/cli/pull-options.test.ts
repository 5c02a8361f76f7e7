// pull's options that contradict each other are a usage error before anything is opened or fetched.
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureBuilt, runLading } from "../support/archive-builder.js";

let scratch: string;
beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-cli-pull-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

describe("pull --platform with --all-platforms", () => {
  it("is refused in one line naming both options, exit 2, with no store made and no registry reached", async () => {
    const root = join(scratch, "store");
    // Port 9 (discard): were the registry reached, the error would be a connection's, not a usage error.
    for (const args of [["--platform", "linux/arm64", "--all-platforms"], ["--all-platforms", "--platform", "linux/amd64", "--platform", "linux/arm64"]]) {
      expect(await runLading(["--root", root, "pull", ...args, "127.0.0.1:9/x:1"])).toEqual({
        code: 2,
        stdout: "",
        stderr: "lading: usage error: --platform and --all-platforms conflict: --all-platforms pulls every platform, --platform only those named\n",
      });
    }
    expect(existsSync(root)).toBe(false);
  });
});
