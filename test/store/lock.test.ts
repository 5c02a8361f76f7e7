import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, mkdir, readFile, rm, stat, symlink, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import lockfile from "proper-lockfile";
import ts from "typescript";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { abandonedLock, onLockWait, removeAbandonedLock, withFileLock } from "../../src/store/lock.js";
import { parseRepositoriesJson, ReferenceStore } from "../../src/store/reference-store.js";
import { workerImageId } from "./lock-worker.js";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
let compiledWorker = "";
let compiledRoot = "";
let scratch = "";
const children: ChildProcess[] = [];

/**
 * Transpiles lock-worker.ts and every project module it imports (transitively) to JavaScript in a
 * temporary directory, mirroring the repository's layout so relative imports resolve as they do
 * for the sources, with a link to the repository's node_modules for package imports
 * (proper-lockfile). Nothing is written into node_modules, which worktrees may share by a link.
 */
async function transpileWorker(): Promise<string> {
  compiledRoot = await mkdtemp(path.join(tmpdir(), "lading-lock-test-"));
  await symlink(path.join(repoRoot, "node_modules"), path.join(compiledRoot, "node_modules"));
  await writeFile(path.join(compiledRoot, "package.json"), '{"type":"module"}');
  const pending = [path.join(repoRoot, "test/store/lock-worker.ts")];
  const done = new Set<string>();
  while (pending.length > 0) {
    const source = pending.pop() as string;
    if (done.has(source)) continue;
    done.add(source);
    const text = await readFile(source, "utf8");
    for (const imported of ts.preProcessFile(text, true, true).importedFiles) {
      if (imported.fileName.startsWith(".")) {
        pending.push(path.resolve(path.dirname(source), imported.fileName.replace(/\.js$/, ".ts")));
      }
    }
    const output = ts.transpileModule(text, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: source,
    }).outputText;
    const destination = path.join(compiledRoot, path.relative(repoRoot, source)).replace(/\.ts$/, ".js");
    await mkdir(path.dirname(destination), { recursive: true });
    await writeFile(destination, output);
  }
  return path.join(compiledRoot, "test/store/lock-worker.js");
}

function startWorker(args: string[]): { child: ChildProcess; exited: Promise<{ code: number | null; stdout: string; stderr: string }> } {
  const child = spawn(process.execPath, [compiledWorker, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  children.push(child);
  let stdout = "";
  let stderr = "";
  child.stdout?.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
  return { child, exited };
}

function waitForOutput(child: ChildProcess, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = "";
    child.stdout?.on("data", (chunk: Buffer) => {
      seen += chunk.toString();
      if (seen.includes(text)) resolve();
    });
    child.on("exit", (code) => reject(new Error(`worker exited (${code}) before printing ${text}`)));
  });
}

beforeAll(async () => {
  compiledWorker = await transpileWorker();
});

afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await rm(compiledRoot, { recursive: true, force: true });
});

afterEach(async () => {
  if (scratch !== "") await rm(scratch, { recursive: true, force: true });
  scratch = "";
});

async function makeScratch(): Promise<string> {
  scratch = await mkdtemp(path.join(tmpdir(), "lading-lock-"));
  return scratch;
}

describe("withFileLock across processes", () => {
  it("loses no update when 4 processes add 50 tags each to the same file", async () => {
    const dir = await makeScratch();
    const file = path.join(dir, "repositories.json");
    const names = ["a", "b", "c", "d"];
    const runs = names.map((name) => startWorker(["tags", file, name, "50"]).exited);
    const results = await Promise.all(runs);
    for (const [i, result] of results.entries()) {
      expect(result.stderr).toBe("");
      expect(result.stdout).toBe(`done ${names[i]}\n`);
      expect(result.code).toBe(0);
    }

    const text = await readFile(file, "utf8");
    const refs = parseRepositoriesJson(text, file).Repositories.contended ?? {};
    expect(Object.keys(refs)).toHaveLength(200);
    for (const name of names) {
      for (let i = 0; i < 50; i++) expect(refs[`contended:${name}-${i}`]).toBe(workerImageId(name, i));
    }
    // The lock directory is gone once everyone released it.
    await expect(stat(`${file}.lock`)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("takes over a lock whose holder was killed with SIGKILL once it is stale", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    const { child, exited } = startWorker(["hold", target, "2000"]);
    await waitForOutput(child, "locked");
    expect((await stat(`${target}.lock`)).isDirectory()).toBe(true);
    child.kill("SIGKILL");
    expect((await exited).code).toBe(null);
    // The killed holder could not remove its lock.
    expect((await stat(`${target}.lock`)).isDirectory()).toBe(true);

    const started = Date.now();
    const value = await withFileLock(target, async () => "acquired", { staleMs: 2000, timeoutMs: 20_000 });
    const waited = Date.now() - started;
    expect(value).toBe("acquired");
    expect(waited).toBeLessThan(15_000);
    await expect(stat(`${target}.lock`)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("gives up with a clear error when a live holder keeps the lock", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    const { child } = startWorker(["hold", target, "10000"]);
    await waitForOutput(child, "locked");
    const error = await withFileLock(target, async () => "never", { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LadingError);
    expect((error as LadingError).kind).toBe("io");
    expect((error as LadingError).message).toBe(
      `timed out after 0.3 s waiting for the lock ${target}.lock: another process holds it`,
    );
    child.kill("SIGKILL");
  });
});

describe("withFileLock in one process", () => {
  it("serialises concurrent callers and releases after an error", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "counter");
    await writeFile(target, "0");
    const increment = () =>
      withFileLock(target, async () => {
        const value = Number(await readFile(target, "utf8"));
        await new Promise((resolve) => setTimeout(resolve, 1));
        await writeFile(target, String(value + 1));
      });
    await Promise.all(Array.from({ length: 25 }, increment));
    expect(await readFile(target, "utf8")).toBe("25");

    await expect(withFileLock(target, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(stat(`${target}.lock`)).rejects.toMatchObject({ code: "ENOENT" });
    expect(await withFileLock(target, async () => 7)).toBe(7);
  });

  it("makes its lock directory 0700, as the store's other directories, whatever the umask lets through", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    const umask = process.umask(0o022);
    try {
      expect(await withFileLock(target, async () => (await stat(`${target}.lock`)).mode & 0o777)).toBe(0o700);
    } finally {
      process.umask(umask);
    }
  });

  it("abandonedLock names a lock not refreshed within the stale period or further ahead than it, and removeAbandonedLock removes only such a one", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    const lockPath = `${target}.lock`;
    const aged = async (ms: number): Promise<void> => {
      const then = new Date(Date.now() + ms);
      await utimes(lockPath, then, then);
    };
    expect(await abandonedLock(target)).toBeUndefined();
    await mkdir(lockPath);
    expect(await abandonedLock(target)).toBeUndefined();
    await removeAbandonedLock(target);
    expect((await stat(lockPath)).isDirectory()).toBe(true);
    await aged(-11_000);
    expect(await abandonedLock(target)).toBe(lockPath);
    await aged(11_000);
    expect(await abandonedLock(target)).toBe(lockPath);
    await removeAbandonedLock(target);
    await expect(stat(lockPath)).rejects.toMatchObject({ code: "ENOENT" });
  });

  it("waits for a holder outside withFileLock, then proceeds", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    const release = await lockfile.lock(target, { realpath: false });
    setTimeout(() => void release(), 200);
    const started = Date.now();
    expect(await withFileLock(target, async () => "after", { timeoutMs: 5000 })).toBe("after");
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it("says once, after a second, that it is waiting for a lock another holder keeps", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    const release = await lockfile.lock(target, { realpath: false });
    setTimeout(() => void release(), 1500);
    const heard: [string, number][] = [];
    onLockWait((lockPath, staleMs) => heard.push([lockPath, staleMs]));
    try {
      expect(await withFileLock(target, async () => "after", { timeoutMs: 5000 })).toBe("after");
      expect(heard).toEqual([[`${target}.lock`, 10_000]]);
      expect(await withFileLock(target, async () => "at once")).toBe("at once");
      expect(heard).toHaveLength(1);
    } finally {
      onLockWait(undefined);
    }
  });

  it("takes at once a lock whose mtime lies further ahead than the stale period (left before the clock was set back)", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    await mkdir(`${target}.lock`);
    const hourAhead = new Date(Date.now() + 3600_000);
    await utimes(`${target}.lock`, hourAhead, hourAhead);
    const started = Date.now();
    expect(await withFileLock(target, async () => "taken", { timeoutMs: 3000 })).toBe("taken");
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it("a holder that did not run for over half the stale period (stopped, then continued) counts its lock as lost: another may have taken it over", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "repositories.json");
    let inside = "";
    const holding = withFileLock(
      target,
      async (lock) => {
        lock.assertHeld();
        // What a SIGSTOP does to this process, without stopping the test runner: nothing runs for 1.2 s.
        const until = Date.now() + 1200;
        while (Date.now() < until);
        try {
          lock.assertHeld();
        } catch (error) {
          inside = (error as Error).message;
        }
      },
      { staleMs: 2000 },
    );
    const message = new RegExp(`^lost the lock ${target}\\.lock while holding it: this process did not run for 1\\.[2-9] s \\(stopped\\?\\), longer than half the 2 s after which another process may take the lock over$`);
    // The holder is told at its next check, and the whole call fails even if it does not check.
    await expect(holding).rejects.toThrow(message);
    expect(inside).toMatch(message);
  });

  it("a holder that keeps running past the stale period still holds its lock", async () => {
    const dir = await makeScratch();
    const outcome = await withFileLock(
      path.join(dir, "repositories.json"),
      async (lock) => {
        await new Promise((resolve) => setTimeout(resolve, 2500));
        lock.assertHeld();
        return "held";
      },
      { staleMs: 2000 },
    );
    expect(outcome).toBe("held");
  });

  it("reports a lock that cannot be created (missing directory) as an io error", async () => {
    const dir = await makeScratch();
    const target = path.join(dir, "missing", "repositories.json");
    const error = await withFileLock(target, async () => 1).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LadingError);
    expect((error as LadingError).kind).toBe("io");
    expect((error as LadingError).message).toMatch(new RegExp(`^cannot take the lock ${target}\\.lock: ENOENT`));
  });

  it("a store in another process sees the same file: ReferenceStore + worker share updates", async () => {
    const dir = await makeScratch();
    const file = path.join(dir, "repositories.json");
    const store = new ReferenceStore(file);
    await store.addTag("busybox", workerImageId("main", 0));
    const { exited } = startWorker(["tags", file, "x", "3"]);
    expect((await exited).code).toBe(0);
    expect(await store.references()).toEqual([
      { reference: "busybox:latest", id: workerImageId("main", 0) },
      { reference: "contended:x-0", id: workerImageId("x", 0) },
      { reference: "contended:x-1", id: workerImageId("x", 1) },
      { reference: "contended:x-2", id: workerImageId("x", 2) },
    ]);
  });
});
