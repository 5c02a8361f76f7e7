import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { chmod, mkdtemp, open, readdir, readFile, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ContentStore } from "../../src/store/content-store.js";
import { ensureStoreLayout, storePaths, type StorePaths } from "../../src/store/root.js";
import { ownNamespace, type FileOwner } from "../../src/store/process-alive.js";

const HELLO = Buffer.from("hello world");
const HELLO_SHA256 = "sha256:b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9";
const EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const OTHER_SHA256 = `sha256:${"0".repeat(64)}`;

const sha256 = (data: Uint8Array): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

async function ingestBytes(store: ContentStore, data: Uint8Array, chunkSize = 4): Promise<import("../../src/store/content-store.js").Ingest> {
  const ingest = await store.openIngest();
  for (let i = 0; i < data.length; i += chunkSize) await ingest.write(data.subarray(i, i + chunkSize));
  return ingest;
}

async function collect(readable: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of readable) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The pid of a process that has certainly exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
  await new Promise((resolve) => child.on("exit", resolve));
  return child.pid!;
}

let base: string;
let paths: StorePaths;
let store: ContentStore;

beforeEach(async () => {
  base = await mkdtemp(path.join(tmpdir(), "lading-content-"));
  paths = await ensureStoreLayout(path.join(base, "store"));
  store = new ContentStore(paths);
});
afterEach(async () => {
  await rm(base, { recursive: true, force: true });
});

const blobFiles = async (): Promise<string[]> => [
  ...(await readdir(path.join(paths.blobs, "sha256"))).map((n) => `sha256/${n}`),
  ...(await readdir(path.join(paths.blobs, "sha512"))).map((n) => `sha512/${n}`),
];

describe("ingest and commit", () => {
  it("hashes while writing and commits under the exact digest, mode 0444", async () => {
    const ingest = await ingestBytes(store, HELLO);
    expect(path.basename(ingest.path)).toMatch(new RegExp(`^${process.pid}-n[0-9a-f]{12}-[0-9a-f]{24}$`));
    expect(await blobFiles()).toEqual([]);
    expect(await ingest.finish()).toEqual({ digest: HELLO_SHA256, size: 11 });
    expect(await blobFiles()).toEqual([]); // finish does not make the blob visible
    expect(await ingest.commit({ digest: HELLO_SHA256, size: 11 })).toBe(HELLO_SHA256);

    const file = path.join(paths.blobs, "sha256", HELLO_SHA256.slice(7));
    expect(store.blobPath(HELLO_SHA256)).toBe(file);
    expect(await readFile(file)).toEqual(HELLO);
    expect((await stat(file)).mode & 0o777).toBe(0o444);
    expect(await readdir(paths.ingest)).toEqual([]);
    expect(await store.has(HELLO_SHA256)).toBe(true);
    expect(await store.has(HELLO_SHA256, 11)).toBe(true);
    expect(await store.has(HELLO_SHA256, 12)).toBe(false);
    expect(await store.stat(HELLO_SHA256)).toEqual({ size: 11 });
    expect(await store.stat(OTHER_SHA256)).toBeUndefined();
    expect(await store.has(OTHER_SHA256)).toBe(false);
    // A second commit of the same ingest returns the same digest.
    expect(await ingest.commit()).toBe(HELLO_SHA256);
  });

  it("keeps an ingest file 0600 while it is written (a worker opens it by path) and makes it 0444 when finished", async () => {
    const ingest = await store.openIngest();
    expect((await stat(ingest.path)).mode & 0o777).toBe(0o600);
    await ingest.write(HELLO);
    await ingest.finish();
    expect((await stat(ingest.path)).mode & 0o777).toBe(0o444);
    await ingest.abort();
  });

  it("commits an empty blob and a sha512 blob", async () => {
    const empty = await store.openIngest();
    expect(await empty.commit({ size: 0 }, { sync: false })).toBe(EMPTY_SHA256);

    const ingest = await store.openIngest({ algorithm: "sha512" });
    await ingest.write(HELLO);
    const want = `sha512:${createHash("sha512").update(HELLO).digest("hex")}`;
    expect(await ingest.commit({ digest: want })).toBe(want);
    expect(await readFile(store.blobPath(want))).toEqual(HELLO);
    expect(await blobFiles()).toEqual([`sha256/${EMPTY_SHA256.slice(7)}`, `sha512/${want.slice(7)}`]);
  });

  it("places overlapping writes at the offsets of their calls", async () => {
    const data = Buffer.alloc(3 * 1024 * 1024 + 17);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 11)) & 0xff;
    const ingest = await store.openIngest();
    const writes: Promise<void>[] = [];
    for (let i = 0; i < data.length; i += 65536) writes.push(ingest.write(data.subarray(i, i + 65536)));
    await Promise.all(writes);
    expect(ingest.size).toBe(data.length);
    const digest = await ingest.commit({ digest: sha256(data), size: data.length });
    expect(digest).toBe(sha256(data));
    // Buffer.equals: a deep toEqual over 3 MiB takes many seconds.
    expect((await readFile(store.blobPath(digest))).equals(data)).toBe(true);
  });

  it("accepts a stream through its writable", async () => {
    const ingest = await store.openIngest();
    await pipeline(Readable.from([Buffer.from("hello "), Buffer.from("world")]), ingest.writable);
    expect(await ingest.commit()).toBe(HELLO_SHA256);
  });

  it("refuses a digest mismatch, naming the expected digest, and leaves nothing behind", async () => {
    const ingest = await ingestBytes(store, HELLO);
    await expect(ingest.commit({ digest: OTHER_SHA256 })).rejects.toMatchObject({
      kind: "invalid",
      subject: OTHER_SHA256,
      message: `blob ${OTHER_SHA256}: content has digest ${HELLO_SHA256}`,
    });
    expect(await blobFiles()).toEqual([]);
    expect(await readdir(paths.ingest)).toEqual([]);
    await expect(ingest.write(HELLO)).rejects.toMatchObject({ kind: "invalid" });
  });

  it("checks the size before the digest", async () => {
    const ingest = await ingestBytes(store, HELLO);
    await expect(ingest.commit({ digest: OTHER_SHA256, size: 10 })).rejects.toMatchObject({
      kind: "invalid",
      message: `blob ${OTHER_SHA256}: size 11 does not match the expected 10`,
    });
    expect(await blobFiles()).toEqual([]);
    expect(await readdir(paths.ingest)).toEqual([]);
  });

  it("refuses an expected digest of another algorithm or with a bad shape", async () => {
    const want512 = `sha512:${createHash("sha512").update(HELLO).digest("hex")}`;
    const first = await ingestBytes(store, HELLO);
    await expect(first.commit({ digest: want512 })).rejects.toMatchObject({
      message: `blob ${want512}: ingest hashed with sha256, cannot check a sha512 digest`,
    });
    const second = await ingestBytes(store, HELLO);
    await expect(second.commit({ digest: "sha256:../../x" })).rejects.toMatchObject({
      kind: "invalid",
      message: 'digest: invalid digest "sha256:../../x"',
    });
    expect(await blobFiles()).toEqual([]);
    expect(await readdir(paths.ingest)).toEqual([]);
  });

  it("does not rewrite a blob that is already present", async () => {
    await (await ingestBytes(store, HELLO)).commit();
    const file = store.blobPath(HELLO_SHA256);
    const old = new Date("2020-01-02T03:04:05Z");
    await utimes(file, old, old);
    const before = await stat(file);

    const again = await ingestBytes(store, HELLO);
    expect(await again.commit({ digest: HELLO_SHA256, size: 11 })).toBe(HELLO_SHA256);
    const after = await stat(file);
    expect(after.ino).toBe(before.ino);
    expect(after.mtimeMs).toBe(old.getTime());
    expect(await readdir(paths.ingest)).toEqual([]);
  });

  it("replaces a blob file of the wrong size (a torn write) with the full bytes", async () => {
    const file = store.blobPath(HELLO_SHA256);
    await writeFile(file, HELLO.subarray(0, 5));
    const ingest = await ingestBytes(store, HELLO);
    expect(await ingest.commit({ digest: HELLO_SHA256, size: 11 })).toBe(HELLO_SHA256);
    expect(await readFile(file)).toEqual(HELLO);
    expect(await store.verifyBlob(HELLO_SHA256)).toBe(true);
    expect(await readdir(paths.ingest)).toEqual([]);
  });

  it("flushAhead starts the fsync that commit then waits for, and a later write makes commit fsync again", async () => {
    const probe = await open(path.join(base, "probe"), "w");
    const handlePrototype = Object.getPrototypeOf(probe) as { sync: () => Promise<void> };
    await probe.close();
    const syncs = vi.spyOn(handlePrototype, "sync");
    try {
      const ingest = await ingestBytes(store, HELLO);
      ingest.flushAhead();
      ingest.flushAhead(); // once is enough
      expect(await ingest.commit({ digest: HELLO_SHA256 })).toBe(HELLO_SHA256);
      expect(syncs).toHaveBeenCalledTimes(2); // the file (flushed ahead) and its blob directory

      syncs.mockClear();
      const longer = await ingestBytes(store, HELLO);
      longer.flushAhead();
      await longer.write(Buffer.from("!"));
      const digest = sha256(Buffer.concat([HELLO, Buffer.from("!")]));
      expect(await longer.commit({ digest })).toBe(digest);
      expect(syncs).toHaveBeenCalledTimes(3); // the early flush, the file again, the directory
      expect(await readFile(store.blobPath(digest))).toEqual(Buffer.from("hello world!"));

      const dropped = await ingestBytes(store, HELLO);
      dropped.flushAhead();
      await dropped.abort();
      expect(await readdir(paths.ingest)).toEqual([]);
    } finally {
      syncs.mockRestore();
    }
  });

  it("abort removes the ingest file and is idempotent", async () => {
    const ingest = await ingestBytes(store, HELLO);
    expect(await readdir(paths.ingest)).toEqual([path.basename(ingest.path)]);
    await ingest.abort();
    await ingest.abort();
    expect(await readdir(paths.ingest)).toEqual([]);
    await expect(ingest.finish()).rejects.toMatchObject({ kind: "invalid" });
    await expect(ingest.commit()).rejects.toMatchObject({ kind: "invalid" });
    expect(await blobFiles()).toEqual([]);
  });
});

describe("commitAll", () => {
  it("commits a batch, placing a repeated blob once", async () => {
    const other = Buffer.from("other bytes");
    const entries = [
      { ingest: await ingestBytes(store, HELLO), expected: { digest: HELLO_SHA256, size: 11 } },
      { ingest: await ingestBytes(store, other) },
      { ingest: await ingestBytes(store, HELLO), expected: { digest: HELLO_SHA256 } },
    ];
    expect(await store.commitAll(entries)).toEqual([HELLO_SHA256, sha256(other), HELLO_SHA256]);
    expect((await blobFiles()).sort()).toEqual([`sha256/${HELLO_SHA256.slice(7)}`, `sha256/${sha256(other).slice(7)}`].sort());
    expect(await readdir(paths.ingest)).toEqual([]);
    expect(await readFile(store.blobPath(sha256(other)))).toEqual(other);
  });

  it("renames nothing and aborts every ingest when one does not match", async () => {
    const entries = [
      { ingest: await ingestBytes(store, HELLO), expected: { digest: HELLO_SHA256 } },
      { ingest: await ingestBytes(store, Buffer.from("tampered")), expected: { digest: OTHER_SHA256 } },
    ];
    await expect(store.commitAll(entries)).rejects.toMatchObject({
      kind: "invalid",
      message: `blob ${OTHER_SHA256}: content has digest ${sha256(Buffer.from("tampered"))}`,
    });
    expect(await blobFiles()).toEqual([]);
    expect(await readdir(paths.ingest)).toEqual([]);
  });
});

describe("reading", () => {
  it("streams and buffers a blob, and caps the buffer size", async () => {
    await (await ingestBytes(store, HELLO)).commit();
    expect(await collect(store.readStream(HELLO_SHA256, { highWaterMark: 3 }))).toEqual(HELLO);
    expect(await store.readBuffer(HELLO_SHA256, 11)).toEqual(HELLO);
    await expect(store.readBuffer(HELLO_SHA256, 10)).rejects.toMatchObject({
      kind: "invalid",
      message: `blob ${HELLO_SHA256}: 11 bytes, more than the limit of 10`,
    });
  });

  it("reports a missing blob as not-found, naming the digest", async () => {
    expect(() => store.readStream(OTHER_SHA256)).toThrow(
      expect.objectContaining({ kind: "not-found", message: `blob ${OTHER_SHA256} not found in the content store` }),
    );
    await expect(store.readBuffer(OTHER_SHA256, 100)).rejects.toMatchObject({
      kind: "not-found",
      message: `blob ${OTHER_SHA256} not found in the content store`,
    });
    await expect(store.verifyBlob(OTHER_SHA256)).rejects.toMatchObject({ kind: "not-found" });
  });

  it("verifies blobs against their names", async () => {
    await (await ingestBytes(store, HELLO)).commit();
    expect(await store.verifyBlob(HELLO_SHA256)).toBe(true);
    const file = store.blobPath(HELLO_SHA256);
    await chmod(file, 0o644);
    await writeFile(file, "hello World");
    expect(await store.verifyBlob(HELLO_SHA256)).toBe(false);
  });

  it("lists blobs sorted, skipping stray files, and deletes them", async () => {
    const other = Buffer.from("other bytes");
    await (await ingestBytes(store, other)).commit();
    await (await ingestBytes(store, HELLO)).commit();
    await writeFile(path.join(paths.blobs, "sha256", "not-a-digest"), "x");
    const listed = [];
    for await (const blob of store.list()) listed.push(blob);
    expect(listed).toEqual(
      [
        { digest: HELLO_SHA256, size: 11 },
        { digest: sha256(other), size: 11 },
      ].sort((a, b) => a.digest.localeCompare(b.digest)),
    );
    expect(await store.delete(HELLO_SHA256)).toBe(true);
    expect(await store.delete(HELLO_SHA256)).toBe(false);
    expect(await store.has(HELLO_SHA256)).toBe(false);
  });
});

describe("digest validation comes before any file access", () => {
  const hostile: Array<[string, string]> = [
    ["sha256:../../x", 'digest: invalid digest "sha256:../../x"'],
    ["sha256:" + "A".repeat(64), `digest: invalid sha256 digest "sha256:${"A".repeat(64)}" (want 64 lowercase hex digits)`],
    ["sha256:" + "a".repeat(63), `digest: invalid sha256 digest "sha256:${"a".repeat(63)}" (want 64 lowercase hex digits)`],
    ["md5:" + "a".repeat(32), `digest: unsupported digest algorithm "md5" in "md5:${"a".repeat(32)}"`],
    ["../sha256/" + "a".repeat(64), `digest: invalid digest "../sha256/${"a".repeat(64)}"`],
  ];

  it.each(hostile)("refuses %s", async (digest, message) => {
    // A store whose root does not exist: any file access would fail differently (or return "absent").
    const ghost = new ContentStore(storePaths(path.join(base, "ghost")));
    const refusal = { kind: "invalid", message };
    expect(() => ghost.blobPath(digest)).toThrow(expect.objectContaining(refusal));
    expect(() => ghost.readStream(digest)).toThrow(expect.objectContaining(refusal));
    await expect(ghost.has(digest)).rejects.toMatchObject(refusal);
    await expect(ghost.stat(digest)).rejects.toMatchObject(refusal);
    await expect(ghost.readBuffer(digest, 10)).rejects.toMatchObject(refusal);
    await expect(ghost.verifyBlob(digest)).rejects.toMatchObject(refusal);
    await expect(ghost.delete(digest)).rejects.toMatchObject(refusal);
    await expect(stat(path.join(base, "ghost"))).rejects.toMatchObject({ code: "ENOENT" });
  });
});

describe("cleanIngest", () => {
  it("removes files of dead processes and keeps those of live ones", async () => {
    const dead = await deadPid();
    const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const deadFile = `${dead}-0123abcd`;
      const liveFile = `${live.pid}-4567ef00`;
      const foreign = "not-ours.tmp";
      for (const name of [deadFile, liveFile, foreign]) await writeFile(path.join(paths.ingest, name), "partial");
      const mine = await ingestBytes(store, HELLO);

      // Counted without removing, then removed: the file and its bytes ("partial", 7).
      expect(await store.cleanIngest({ remove: false })).toEqual({ files: 1, bytes: 7 });
      expect((await readdir(paths.ingest)).length).toBe(4);
      expect(await store.cleanIngest()).toEqual({ files: 1, bytes: 7 });
      expect((await readdir(paths.ingest)).sort()).toEqual([path.basename(mine.path), liveFile, foreign].sort());

      // With a threshold, stale files of live pids (perhaps a reused pid) and foreign names go too,
      // but never this process's own ingest.
      const old = new Date(Date.now() - 2 * 3600_000);
      for (const name of [liveFile, foreign, path.basename(mine.path)]) await utimes(path.join(paths.ingest, name), old, old);
      expect(await store.cleanIngest({ olderThanMs: 3600_000 })).toEqual({ files: 2, bytes: 14 });
      expect(await readdir(paths.ingest)).toEqual([path.basename(mine.path)]);
      expect(await mine.commit()).toBe(HELLO_SHA256);
    } finally {
      live.kill();
    }
  });

  it("judges a pid only in its own pid namespace: another namespace's files go only when the caller says their owner is gone", async () => {
    const dead = await deadPid();
    const otherNamespace = ownNamespace() === "0123456789ab" ? "ba9876543210" : "0123456789ab";
    const deadHere = `${dead}-n${ownNamespace()}-0123abcd`;
    const deadPidElsewhere = `${dead}-n${otherNamespace}-4567ef00`;
    const myPidElsewhere = `${process.pid}-n${otherNamespace}-89abcdef`;
    for (const name of [deadHere, deadPidElsewhere, myPidElsewhere]) await writeFile(path.join(paths.ingest, name), "partial");

    expect(await store.cleanIngest()).toEqual({ files: 1, bytes: 7 });
    expect((await readdir(paths.ingest)).sort()).toEqual([deadPidElsewhere, myPidElsewhere].sort());
    const asked: FileOwner[] = [];
    const onlyMyPidGone = (owner: FileOwner): boolean => {
      asked.push(owner);
      return owner.pid === process.pid;
    };
    expect(await store.cleanIngest({ foreignOwners: () => Promise.resolve(onlyMyPidGone) })).toEqual({ files: 1, bytes: 7 });
    expect(await readdir(paths.ingest)).toEqual([deadPidElsewhere]);
    expect(asked.sort((a, b) => a.pid - b.pid)).toEqual([{ pid: dead, namespace: otherNamespace }, { pid: process.pid, namespace: otherNamespace }].sort((a, b) => a.pid - b.pid));
  });

  it("asks whether another namespace's owners are gone only after listing ingest/: a load that starts meanwhile keeps its file", async () => {
    const otherNamespace = ownNamespace() === "0123456789ab" ? "ba9876543210" : "0123456789ab";
    const startedMeanwhile = `4242-n${otherNamespace}-bbbbbbbb`;
    const everyOwnerGone = async (): Promise<(owner: FileOwner) => boolean> => {
      // Its lease is made before its ingest file; a snapshot taken now would not see the lease.
      await writeFile(path.join(paths.ingest, startedMeanwhile), "partial");
      return () => true;
    };
    expect(await store.cleanIngest({ foreignOwners: everyOwnerGone })).toEqual({ files: 0, bytes: 0 });
    expect(await readdir(paths.ingest)).toEqual([startedMeanwhile]);
  });

  it("names its files so that an earlier lading sharing the store reads a lease's pid and leaves ingest and temp files alone", async () => {
    // The patterns lading used before files carried a namespace (545ca67).
    const earlierLeasePid = (name: string): number => Number(name.split("-")[0]);
    const earlierIngest = /^([1-9][0-9]{0,9})-[0-9a-f]+$/;
    const earlierTemporary = /^\..+\.tmp-(\d+)-[0-9a-f]{12}$/;
    const ingest = await store.openIngest();
    try {
      const name = path.basename(ingest.path);
      expect(name.startsWith(`${process.pid}-n${ownNamespace()}-`)).toBe(true);
      expect([earlierLeasePid(name), earlierIngest.test(name)]).toEqual([process.pid, false]);
      expect(earlierTemporary.test(`.repositories.json.tmp-${process.pid}-n${ownNamespace()}-0123456789ab`)).toBe(false);
    } finally {
      await ingest.abort();
    }
  });

  it("keeps recent files of live processes even with a threshold", async () => {
    const live = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"], { stdio: "ignore" });
    try {
      const liveFile = `${live.pid}-abc`;
      await writeFile(path.join(paths.ingest, liveFile), "partial");
      expect(await store.cleanIngest({ olderThanMs: 3600_000 })).toEqual({ files: 0, bytes: 0 });
      expect(await readdir(paths.ingest)).toEqual([liveFile]);
    } finally {
      live.kill();
    }
  });
});
