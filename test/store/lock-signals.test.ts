// A signal (Ctrl-C, SIGTERM) at any moment of taking, holding or releasing a lock leaves no lock
// directory of this process behind, and never removes another process's. The child stops in a
// file-system call on the lock directory that never returns (the moment under test), and is
// signalled there; it still dies by the signal.
import { spawn } from "node:child_process";
import fs from "node:fs";
import { once } from "node:events";
import { mkdir, mkdtemp, rm, rmdir, utimes } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { withFileLock } from "../../src/store/lock.js";
import { ensureBuilt } from "../support/archive-builder.js";
import { REPO_ROOT } from "../ops/load-expectations.js";
import { entries } from "../support/waiting.js";

let scratch: string;

beforeAll(async () => {
  ensureBuilt();
  scratch = await mkdtemp(join(tmpdir(), "lading-lock-signals-"));
});
afterAll(async () => {
  await rm(scratch, { recursive: true, force: true });
});

interface Child {
  /** Resolves once the child's standard output holds one of `texts`. */
  printed(...texts: string[]): Promise<void>;
  /** Sends `signal` and resolves with how the child ended and all it printed. */
  signalled(signal: NodeJS.Signals): Promise<[number | null, NodeJS.Signals | null, string, string]>;
}

/**
 * Runs `body` in a node process of its own on the built lock module (`withFileLock` and `target`
 * in scope). Each fs call named in `stopIn` (node:fs's own, which proper-lockfile reaches) made on
 * `<target>.lock` prints "<call> of the lock" and never calls back.
 */
function lockingChild(target: string, stopIn: string[], body: string): Child {
  const script = `
    import fs from "node:fs";
    const target = ${JSON.stringify(target)};
    for (const name of ${JSON.stringify(stopIn)}) {
      const real = fs[name];
      fs[name] = function (file, ...rest) {
        if (file !== target + ".lock") return real.call(this, file, ...rest);
        process.stdout.write(name + " of the lock\\n");
        setInterval(() => undefined, 1000);
      };
    }
    const { withFileLock } = await import(${JSON.stringify(join(REPO_ROOT, "dist", "store", "lock.js"))});
    ${body}
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, "exit") as Promise<[number | null, NodeJS.Signals | null]>;
  return {
    printed: (...texts) =>
      new Promise((resolve, reject) => {
        const check = (): void => void (texts.some((text) => stdout.includes(text)) && resolve());
        child.stdout.on("data", check);
        check();
        void exited.then(() => reject(new Error(`the child exited before printing ${JSON.stringify(texts)}: ${stdout}${stderr}`)));
      }),
    signalled: async (signal) => {
      child.kill(signal);
      const [code, killedBy] = await exited;
      return [code, killedBy, stdout, stderr];
    },
  };
}

/** What taking the lock on `target` gives at once: "taken", or the error of a wait that timed out. */
async function takenAtOnce(target: string): Promise<string> {
  return withFileLock(target, async () => "taken", { timeoutMs: 1000 }).catch((error: Error) => error.message);
}

const HOLD_FOREVER = "await new Promise(() => setInterval(() => undefined, 1000));";

describe("a signal while taking or releasing a lock", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    it(`${signal} after the mkdir that took the lock, before proper-lockfile registered it: the directory is removed, the next lock is taken at once`, async () => {
      const dir = join(scratch, `created-${signal}`);
      await mkdir(dir);
      const target = join(dir, "repositories.json");
      // The first lock of a process probes the directory's mtime precision with utimes; later ones stat it.
      const child = lockingChild(target, ["utimes", "stat"], `await withFileLock(target, async () => console.log("locked"));`);
      await child.printed("of the lock\n");
      expect(await entries(dir)).toEqual(["repositories.json.lock"]);
      expect(await child.signalled(signal)).toEqual([null, signal, "utimes of the lock\n", ""]);
      expect(await entries(dir)).toEqual([]);
      expect(await takenAtOnce(target)).toBe("taken");
    });
  }

  it("SIGINT after a mkdir that failed because another process holds the lock: the holder's directory stays", async () => {
    const dir = join(scratch, "held-elsewhere");
    await mkdir(dir);
    const target = join(dir, "repositories.json");
    const seen = await withFileLock(target, async (held) => {
      // proper-lockfile's mkdir failed with EEXIST; it stats the directory to see whether it is stale.
      const child = lockingChild(target, ["stat"], `await withFileLock(target, async () => console.log("locked"));`);
      await child.printed("of the lock\n");
      const ended = await child.signalled("SIGINT");
      const left = await entries(dir);
      held.assertHeld();
      return [ended, left];
    });
    expect(seen).toEqual([[null, "SIGINT", "stat of the lock\n", ""], ["repositories.json.lock"]]);
    expect(await entries(dir)).toEqual([]);
  });

  it("SIGINT after a held lock was lost to another process: the other's directory stays", async () => {
    const dir = join(scratch, "lost");
    await mkdir(dir);
    const target = join(dir, "repositories.json");
    const child = lockingChild(
      target,
      [],
      `await withFileLock(target, async (held) => {
        console.log("locked");
        for (;;) {
          await new Promise((resolve) => setTimeout(resolve, 50));
          try { held.assertHeld(); } catch (error) { console.log(error.message); break; }
        }
        ${HOLD_FOREVER}
      }, { staleMs: 2000 });`,
    );
    await child.printed("locked\n");
    // What a process that found the lock stale does: remove it and make its own.
    await rmdir(`${target}.lock`);
    await mkdir(`${target}.lock`);
    await child.printed("while holding it");
    expect(await child.signalled("SIGINT")).toEqual([
      null,
      "SIGINT",
      `locked\nlost the lock ${target}.lock while holding it: another process took it over, as this one had not refreshed it in time (stopped, or too busy)\n`,
      "",
    ]);
    expect(await entries(dir)).toEqual(["repositories.json.lock"]);
  });

  it("SIGINT just after a release: the directory is already gone, not left to a pending rmdir", async () => {
    const dir = join(scratch, "released");
    await mkdir(dir);
    const target = join(dir, "repositories.json");
    const child = lockingChild(target, ["rmdir"], `await withFileLock(target, async () => undefined); console.log("released"); ${HOLD_FOREVER}`);
    await child.printed("released\n", "rmdir of the lock\n");
    expect(await child.signalled("SIGINT")).toEqual([null, "SIGINT", "released\n", ""]);
    expect(await entries(dir)).toEqual([]);
    expect(await takenAtOnce(target)).toBe("taken");
  });

  it("SIGINT while holding a lock taken over unnoticed (this process was stopped): the new holder's directory stays", async () => {
    const dir = join(scratch, "taken-over-unnoticed");
    await mkdir(dir);
    const target = join(dir, "repositories.json");
    const child = lockingChild(target, [], `await withFileLock(target, async () => { console.log("locked"); ${HOLD_FOREVER} });`);
    await child.printed("locked\n");
    await takeOver(`${target}.lock`);
    expect(await child.signalled("SIGINT")).toEqual([null, "SIGINT", "locked\n", ""]);
    expect(await entries(dir)).toEqual(["repositories.json.lock"]);
  });
});

describe("a release of a lock taken over unnoticed", () => {
  it("leaves the new holder's directory and says the lock was taken over", async () => {
    const dir = join(scratch, "release-taken-over");
    await mkdir(dir);
    const target = join(dir, "repositories.json");
    const lockPath = `${target}.lock`;
    const released = withFileLock(target, () => takeOver(lockPath));
    await expect(released).rejects.toThrow(
      `could not release the lock ${lockPath}: ${lockPath} was taken over by another process (its mtime is not the one this process set): left to it`,
    );
    expect(await entries(dir)).toEqual(["repositories.json.lock"]);
  });
});

/**
 * What another process does with a lock it found stale, while this one was stopped: removes the
 * directory and makes its own, whose mtime it sets (at least the stale period after the last
 * refresh of the holder it replaced).
 */
async function takeOver(lockPath: string): Promise<void> {
  await rmdir(lockPath);
  await mkdir(lockPath);
  const later = new Date(Date.now() + 10_000);
  await utimes(lockPath, later, later);
}

describe("a lock on a file system with coarse timestamps", () => {
  it("is released and removed when the mkdir's mtime, rounded by the file system, is over a second from the clock", async () => {
    const dir = join(scratch, "coarse-timestamps");
    await mkdir(dir);
    // The first lock of a process probes the mtime precision with a utimes; the later ones keep
    // the mtime their mkdir got, which a file system of 1- or 2-second timestamps rounds down.
    expect(await takenAtOnce(join(dir, "first"))).toBe("taken");
    const realMkdir = fs.mkdirSync.bind(fs);
    const rounded = vi.spyOn(fs, "mkdirSync").mockImplementation((target, options) => {
      const made = realMkdir(target, options);
      const twoSecondsEarlier = new Date(Math.floor(Date.now() / 2000) * 2000 - 2000 + 500);
      fs.utimesSync(target, twoSecondsEarlier, twoSecondsEarlier);
      return made;
    });
    try {
      expect(await withFileLock(join(dir, "second"), async () => "held")).toBe("held");
    } finally {
      rounded.mockRestore();
    }
    expect(await entries(dir)).toEqual([]);
  });
});

interface StoppingChild {
  /** Resolves once the child's standard output holds `text`. */
  printed(text: string): Promise<void>;
  /** All the child printed so far. */
  output(): string;
  /** SIGCONT: the child goes on. */
  resume(): void;
  /** The child's exit code. */
  exited: Promise<number | null>;
}

const STOPPED = "stopped after the mkdir\n";

/**
 * A node process of its own that takes the lock on `target` (stale period 2 s) and stops itself
 * (SIGSTOP) just after the mkdir that made the lock directory, before proper-lockfile goes on
 * with it, as a Ctrl-Z or a suspended machine may stop it there. Its first lock is `target`'s
 * (proper-lockfile then sets the directory's mtime, to probe its precision), or with `later`
 * its second (proper-lockfile then only stats it). It prints STOPPED as it stops, "locked" once
 * it holds the lock, or its error.
 */
function stoppingChild(target: string, { later = false } = {}): StoppingChild {
  const script = `
    import fs from "node:fs";
    const target = ${JSON.stringify(target)};
    let armed = false;
    // The first thing after the mkdir: lock-directories.ts notes the new directory's mtime.
    const realStat = fs.statSync;
    fs.statSync = function (file, ...rest) {
      const result = realStat.call(this, file, ...rest);
      if (armed && file === target + ".lock") {
        armed = false;
        process.stdout.write(${JSON.stringify(STOPPED)});
        process.kill(process.pid, "SIGSTOP");
      }
      return result;
    };
    const { withFileLock } = await import(${JSON.stringify(join(REPO_ROOT, "dist", "store", "lock.js"))});
    try {
      if (${JSON.stringify(later)}) await withFileLock(target + "-first", async () => undefined);
      armed = true;
      await withFileLock(target, async () => console.log("locked"), { staleMs: 2000, timeoutMs: 20000 });
    } catch (error) {
      console.log(error.message);
      process.exitCode = 1;
    }
  `;
  const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    printed: (text) =>
      new Promise((resolve, reject) => {
        const check = (): void => void (stdout.includes(text) && resolve());
        child.stdout.on("data", check);
        check();
        void exited.then(() => reject(new Error(`the child exited before printing ${JSON.stringify(text)}: ${stdout}`)));
      }),
    output: () => stdout,
    resume: () => void child.kill("SIGCONT"),
    exited,
  };
}

describe("a process stopped while it takes a lock, which another process takes over meanwhile", () => {
  for (const [which, later] of [["its first lock", false], ["a later lock", true]] as const) {
    it(`(${which}) takes the lock once it goes on, the other having released it, rather than fail`, async () => {
      const dir = join(scratch, `stopped-${later ? "later" : "first"}`);
      await mkdir(dir);
      const target = join(dir, "repositories.json");
      const child = stoppingChild(target, { later });
      await child.printed(STOPPED);
      // The stopped process's directory goes stale after 2 s: this process takes it over, and releases it.
      expect(await withFileLock(target, async () => "taken over", { staleMs: 2000, timeoutMs: 10_000 })).toBe("taken over");
      child.resume();
      expect(await child.exited).toBe(0);
      expect(child.output()).toBe(`${STOPPED}locked\n`);
      expect(await entries(dir)).toEqual([]);
    });

    it(`(${which}) leaves alone the lock the other still holds, and waits for it`, async () => {
      const dir = join(scratch, `stopped-while-held-${later ? "later" : "first"}`);
      await mkdir(dir);
      const target = join(dir, "repositories.json");
      const child = stoppingChild(target, { later });
      await child.printed(STOPPED);
      const whileHeld = await withFileLock(
        target,
        async (held) => {
          child.resume();
          // Past this holder's next refresh (every second at a 2 s stale period), which a directory touched by the other would fail.
          await new Promise((resolve) => setTimeout(resolve, 1500));
          held.assertHeld();
          return child.output();
        },
        { staleMs: 2000, timeoutMs: 10_000 },
      );
      expect(whileHeld).toBe(STOPPED);
      expect(await child.exited).toBe(0);
      expect(child.output()).toBe(`${STOPPED}locked\n`);
      expect(await entries(dir)).toEqual([]);
    });
  }
});

describe("the exit hook proper-lockfile brings", () => {
  // signal-exit v3 sets an unset exit code to 0 as 'exit' is emitted, before Node's handler that
  // makes an unsettled top-level await exit 13: loaded with the library, it hid that failure.
  async function exitOf(body: string): Promise<[number | null, string]> {
    const script = `import * as lading from ${JSON.stringify(join(REPO_ROOT, "dist", "index.js"))};\n${body}\nawait new Promise(() => {});`;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const [code] = (await once(child, "exit")) as [number | null];
    return [code, output];
  }

  it("is not loaded by importing the library or by a job that takes no lock: an unsettled top-level await still exits 13", async () => {
    expect(await exitOf("")).toEqual([13, ""]);
    const root = join(scratch, "exit-code-store");
    expect(await exitOf(`const store = await lading.Store.open(${JSON.stringify(root)}); console.log((await lading.listImages(store)).length);`)).toEqual([13, "0\n"]);
  });
});
