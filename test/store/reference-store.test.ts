import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { familiarName, formatReference, parseReference } from "../../src/core/reference.js";
import { writeFileAtomic, writeFilesAtomic } from "../../src/store/atomic-file.js";
import {
  indexRepositories,
  parseRepositoriesJson,
  ReferenceStore,
  serializeRepositoriesJson,
  type ReferenceTxn,
  type RepositoriesFile,
} from "../../src/store/reference-store.js";

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../shared/fixtures");

// moby reference/store_test.go: the same references and the exact bytes Docker writes for them.
const SAVE_LOAD_CASES: Record<string, string> = {
  "registry:5000/foobar:HEAD": "sha256:470022b8af682154f57a2163d030eb369549549cba00edc69e1b99b46bb924d6",
  "registry:5000/foobar:alternate": "sha256:ae300ebc4a4f00693702cfb0a5e0b7bc527b353828dc86ad09fb95c8a681b793",
  "registry:5000/foobar:latest": "sha256:6153498b9ac00968d71b66cca4eac37e990b5f9eb50c26877eb8799c8847451b",
  "registry:5000/foobar:master": "sha256:6c9917af4c4e05001b346421959d7ea81b6dc9d25718466a37a6add865dfd7fc",
  "jess/hollywood:latest": "sha256:ae7a5519a0a55a2d4ef20ddcbd5d0ca0888a1f7ab806acc8e2a27baf46f529fe",
  "registry@sha256:367eb40fd0330a7e464777121e39d2f5b3e8e23a1e159342e53ab05c9e4d94e6":
    "sha256:24126a56805beb9711be5f4590cc2eb55ab8d4a85ebd618eed72bb19fc50631c",
  "busybox:latest": "sha256:91e54dfb11794fad694460162bf0cb0a4fa710cfa3f60979c177d920813e267c",
};
const MARSHALLED =
  '{"Repositories":{"busybox":{"busybox:latest":"sha256:91e54dfb11794fad694460162bf0cb0a4fa710cfa3f60979c177d920813e267c"},"jess/hollywood":{"jess/hollywood:latest":"sha256:ae7a5519a0a55a2d4ef20ddcbd5d0ca0888a1f7ab806acc8e2a27baf46f529fe"},"registry":{"registry@sha256:367eb40fd0330a7e464777121e39d2f5b3e8e23a1e159342e53ab05c9e4d94e6":"sha256:24126a56805beb9711be5f4590cc2eb55ab8d4a85ebd618eed72bb19fc50631c"},"registry:5000/foobar":{"registry:5000/foobar:HEAD":"sha256:470022b8af682154f57a2163d030eb369549549cba00edc69e1b99b46bb924d6","registry:5000/foobar:alternate":"sha256:ae300ebc4a4f00693702cfb0a5e0b7bc527b353828dc86ad09fb95c8a681b793","registry:5000/foobar:latest":"sha256:6153498b9ac00968d71b66cca4eac37e990b5f9eb50c26877eb8799c8847451b","registry:5000/foobar:master":"sha256:6c9917af4c4e05001b346421959d7ea81b6dc9d25718466a37a6add865dfd7fc"}}}';

const ID1 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9c";
const ID2 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9d";
const ID3 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9e";
const DIGEST = "sha256:58153dfb11794fad694460162bf0cb0a4fa710cfa3f60979c177d920813e267c";
const DIGEST2 = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

let dir = "";
let file = "";

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lading-refstore-"));
  file = path.join(dir, "repositories.json");
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function caught(promise: Promise<unknown>): Promise<LadingError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(LadingError);
  return error as LadingError;
}

function caughtSync(fn: () => unknown): LadingError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LadingError);
    return error as LadingError;
  }
  throw new Error("expected an error");
}

async function fileIdentity(p: string): Promise<{ ino: bigint; mtimeNs: bigint; ctimeNs: bigint }> {
  const s = await stat(p, { bigint: true });
  return { ino: s.ino, mtimeNs: s.mtimeNs, ctimeNs: s.ctimeNs };
}

describe("Docker's file format (moby TestSave / TestLoad)", () => {
  it("writes exactly Docker's bytes: compact, sorted, no trailing newline, mode 0600", async () => {
    const store = new ReferenceStore(file);
    for (const [ref, id] of Object.entries(SAVE_LOAD_CASES)) {
      if (ref.includes("@")) expect(await store.addDigest(ref, id)).toEqual({ changed: true });
      else expect(await store.addTag(ref, id)).toEqual({ changed: true });
    }
    expect(await readFile(file, "utf8")).toBe(MARSHALLED);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    // No temp file or lock directory is left behind.
    expect(await readdir(dir)).toEqual(["repositories.json"]);
  });

  it("reads Docker's file", async () => {
    await writeFile(file, MARSHALLED);
    const store = new ReferenceStore(file);
    for (const [ref, id] of Object.entries(SAVE_LOAD_CASES)) expect(await store.get(ref)).toBe(id);
    expect(await store.get("docker.io/library/busybox:latest")).toBe(SAVE_LOAD_CASES["busybox:latest"]);
    expect(await store.get("busybox")).toBe(SAVE_LOAD_CASES["busybox:latest"]);
  });

  it("sorts keys in byte order, also integer-like ones that JS objects would reorder", () => {
    const file: RepositoriesFile = {
      Repositories: {
        busybox: { "busybox:latest": ID1 },
        "123": { "123:9": ID2, "123:10": ID2 },
        "0abc": { "0abc:latest": ID3 },
      },
    };
    expect(serializeRepositoriesJson(file)).toBe(
      `{"Repositories":{"0abc":{"0abc:latest":"${ID3}"},"123":{"123:10":"${ID2}","123:9":"${ID2}"},"busybox":{"busybox:latest":"${ID1}"}}}`,
    );
    expect(serializeRepositoriesJson({ Repositories: {} })).toBe('{"Repositories":{}}');
  });

  it("reads the real dockerd 20.10 file recorded in the fixtures and writes it back in Docker's form", async () => {
    const expected = JSON.parse(await readFile(path.join(fixtures, "expected.json"), "utf8")) as {
      dockerDataRoot: { repositoriesJson: RepositoriesFile };
    };
    const recorded = expected.dockerDataRoot.repositoriesJson;
    const compact = serializeRepositoriesJson(recorded);
    // Same document, compact (no whitespace outside strings), keys in sorted order.
    expect(JSON.parse(compact)).toEqual(recorded);
    expect(compact).not.toMatch(/[\s\n]/);
    const repoKeys = Object.keys(recorded.Repositories);
    expect(repoKeys.length).toBe(10);
    expect(compact.startsWith(`{"Repositories":{"127.0.0.1:5000/fixture/app":{"127.0.0.1:5000/fixture/app:1.0":`)).toBe(true);

    const parsed = parseRepositoriesJson(compact, "repositories.json");
    expect(serializeRepositoriesJson(parsed)).toBe(compact);
    // The pretty-printed form parses to the same document.
    expect(parseRepositoriesJson(JSON.stringify(recorded, null, 2), "pretty")).toEqual(parsed);

    for (const [repo, refs] of Object.entries(parsed.Repositories)) {
      for (const key of Object.keys(refs)) {
        const ref = parseReference(key);
        expect(formatReference(ref, "familiar")).toBe(key);
        expect(key.startsWith(repo)).toBe(true);
      }
    }

    await writeFile(file, JSON.stringify(recorded, null, 3));
    const store = new ReferenceStore(file);
    expect(await store.get("127.0.0.1:5000/fixture/app:1.0")).toBe(
      "sha256:f0488f7ed7f83cecc98f35db23c24e4e3b860efb66340f1094e15762d6a52a67",
    );
    expect(await store.get("docker.io/library/imported-plain")).toBe(
      "sha256:eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b",
    );
    expect((await store.references("sha256:eed4e27eb6fff71e0755bc5fb9d4db3ac623707413fc05c57dbcccc43e50966b")).map((e) => e.reference)).toEqual([
      "fixture/imported:1.0",
      "fixture/imported:latest",
      "imported-plain:latest",
      "localhost:5000/team/imported:v1",
    ]);
    // A change rewrites the hand-formatted file in Docker's compact form.
    await store.delete("fixture/built-legacy:1.0");
    const rewritten = await readFile(file, "utf8");
    expect(rewritten).toBe(compact.replace(/"fixture\/built-legacy":\{[^}]*\},/, ""));
  });
});

describe("Docker's rules (moby TestAddDeleteGet / TestInvalidTags)", () => {
  it("adds, moves with force, gets, lists sorted and deletes", async () => {
    const store = new ReferenceStore(file);
    // A bare name means :latest.
    expect(await store.addTag("username/repo", ID1)).toEqual({ changed: true });
    expect(await store.addTag("username/repo1:latest", ID1)).toEqual({ changed: true });
    expect(await store.addTag("username/repo1:old", ID2)).toEqual({ changed: true });
    expect(await store.addTag("username/repo1:alias", ID1)).toEqual({ changed: true });
    expect(await store.addTag("username/repo2:latest", ID2)).toEqual({ changed: true });
    expect(await store.addTag("username/repo2:latest", ID2)).toEqual({ changed: false });
    const ref5 = `username/repo3@${DIGEST}`;
    expect(await store.addDigest(ref5, ID2)).toEqual({ changed: true });
    expect(await store.addDigest(ref5, ID2)).toEqual({ changed: false });

    const moved = await caught(store.addTag("username/repo2:latest", ID3));
    expect(moved.kind).toBe("conflict");
    expect(moved.message).toBe(
      `Conflict: Tag username/repo2:latest is already set to image ${ID2}, if you want to replace it, please use the force option`,
    );
    expect(await store.addTag("username/repo2:latest", ID3, { force: true })).toEqual({ changed: true, replaced: ID2 });

    expect(await store.get("username/repo")).toBe(ID1);
    expect(await store.get("username/repo:latest")).toBe(ID1);
    expect(await store.get("username/repo1:latest")).toBe(ID1);
    expect(await store.get("username/repo1:old")).toBe(ID2);
    expect(await store.get("username/repo1:alias")).toBe(ID1);
    expect(await store.get("username/repo2:latest")).toBe(ID3);
    expect(await store.get(ref5)).toBe(ID2);
    expect(await store.get("username/nonexistrepo:latest")).toBeUndefined();
    expect(await store.get("username/repo1:nonexist")).toBeUndefined();

    expect(await store.references(ID1)).toEqual([
      { reference: "username/repo1:alias", id: ID1 },
      { reference: "username/repo1:latest", id: ID1 },
      { reference: "username/repo:latest", id: ID1 },
    ]);
    expect((await store.references()).map((e) => e.reference)).toEqual([
      "username/repo1:alias",
      "username/repo1:latest",
      "username/repo1:old",
      "username/repo2:latest",
      `username/repo3@${DIGEST}`,
      "username/repo:latest",
    ]);

    const missingRepo = await caught(store.delete("username/nonexistrepo:latest"));
    expect(missingRepo.kind).toBe("not-found");
    expect(missingRepo.message).toBe("reference does not exist: username/nonexistrepo:latest");
    expect((await caught(store.delete("username/repo1:nonexist"))).message).toBe(
      "reference does not exist: username/repo1:nonexist",
    );

    expect(await store.delete("username/repo1:latest")).toBe(ID1);
    expect(await store.get("username/repo1:latest")).toBeUndefined();
    expect(await store.delete(ref5)).toBe(ID2);
    expect(await store.get(ref5)).toBeUndefined();
    expect(await store.delete("username/repo")).toBe(ID1);
    expect(await store.get("username/repo")).toBeUndefined();
    // Deleting the last reference of a repository removes the repository.
    expect(Object.keys((await store.snapshot()).Repositories)).toEqual(["username/repo1", "username/repo2"]);
  });

  it("refuses a repository named sha256, and a digest reference as a tag", async () => {
    const store = new ReferenceStore(file);
    const ambiguous = await caught(store.addTag("sha256:abc", ID1, { force: true }));
    expect(ambiguous.kind).toBe("invalid");
    expect(ambiguous.message).toBe("refusing to create an ambiguous tag using digest algorithm as name");
    expect((await caught(store.addTag("docker.io/library/sha256", ID1))).kind).toBe("invalid");
    const asTag = await caught(store.addTag(`registry@${DIGEST}`, ID1, { force: true }));
    expect(asTag.kind).toBe("invalid");
    expect(asTag.message).toBe(`refusing to create a tag with a digest reference: registry@${DIGEST}`);
    expect((await caught(store.addDigest("registry:1", ID1))).message).toBe(
      "refusing to create a digest reference without a digest: registry:1",
    );
    // A namespaced repository whose last component is sha256 is fine.
    expect(await store.addTag("foo/sha256:abc", ID1)).toEqual({ changed: true });
    expect(await store.references()).toEqual([{ reference: "foo/sha256:abc", id: ID1 }]);
  });

  it("stores a reference carrying a tag and a digest by its digest", async () => {
    const store = new ReferenceStore(file);
    expect(await store.addDigest(`busybox:1.36@${DIGEST}`, ID1)).toEqual({ changed: true });
    expect(await readFile(file, "utf8")).toBe(`{"Repositories":{"busybox":{"busybox@${DIGEST}":"${ID1}"}}}`);
    expect(await store.get(`busybox@${DIGEST}`)).toBe(ID1);
    expect(await store.get(`busybox:other@${DIGEST}`)).toBe(ID1);
    expect(await store.get("busybox:1.36")).toBeUndefined();
    expect(await store.delete(`docker.io/library/busybox:1.36@${DIGEST}`)).toBe(ID1);
    expect(await readFile(file, "utf8")).toBe('{"Repositories":{}}');
  });

  it("never moves a digest reference, even with force", async () => {
    const store = new ReferenceStore(file);
    await store.addDigest(`busybox@${DIGEST}`, ID1);
    for (const force of [false, true]) {
      const error = await caught(store.addDigest(`busybox@${DIGEST}`, ID2, { force }));
      expect(error.kind).toBe("conflict");
      expect(error.message).toBe(`Cannot overwrite digest ${DIGEST}`);
    }
    expect(await store.get(`busybox@${DIGEST}`)).toBe(ID1);
  });

  it("keys by familiar name whatever form the reference is given in", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("docker.io/library/busybox:latest", ID1);
    await store.addTag("index.docker.io/fixture/x:1.0", ID2);
    await store.addTag("localhost:5000/team/x:v1", ID3);
    await store.addTag(parseReference("docker.io/library/alpine"), ID3);
    expect(await readFile(file, "utf8")).toBe(
      `{"Repositories":{"alpine":{"alpine:latest":"${ID3}"},"busybox":{"busybox:latest":"${ID1}"},"fixture/x":{"fixture/x:1.0":"${ID2}"},"localhost:5000/team/x":{"localhost:5000/team/x:v1":"${ID3}"}}}`,
    );
    expect(await store.get("fixture/x:1.0")).toBe(ID2);
  });

  it("accepts a bare 64-hex image ID and refuses anything else", async () => {
    const store = new ReferenceStore(file);
    expect(await store.addTag("busybox", ID1.slice("sha256:".length))).toEqual({ changed: true });
    expect(await store.get("busybox")).toBe(ID1);
    const bad = await caught(store.addTag("busybox:2", "sha256:ABC"));
    expect(bad.kind).toBe("invalid");
    expect(bad.message).toBe('invalid image ID "sha256:ABC" (want sha256:<64 lowercase hex>)');
    expect((await caught(store.references("nope"))).kind).toBe("invalid");
  });

  it("keeps the mode of the file it rewrites (a store opened to other readers); writes a new one 0600", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("app:1.0", ID1);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    await chmod(file, 0o644);
    await store.addTag("app:2.0", ID1);
    expect((await stat(file)).mode & 0o777).toBe(0o644);
  });

  it("does not rewrite the file when nothing changes", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("busybox", ID1);
    await store.addDigest(`busybox@${DIGEST}`, ID1);
    const before = await fileIdentity(file);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(await store.addTag("busybox:latest", ID1)).toEqual({ changed: false });
    expect(await store.addTag("busybox", ID1, { force: true })).toEqual({ changed: false });
    expect(await store.addDigest(`busybox@${DIGEST}`, ID1)).toEqual({ changed: false });
    expect(await fileIdentity(file)).toEqual(before);
  });

  it("treats an absent file as empty and does not create it by reading", async () => {
    const store = new ReferenceStore(path.join(dir, "sub", "repositories.json"));
    expect(await store.snapshot()).toEqual({ Repositories: {} });
    expect(await store.references()).toEqual([]);
    expect(await store.get("busybox")).toBeUndefined();
    expect((await caught(store.delete("busybox"))).kind).toBe("not-found");
    expect(await readdir(dir)).toEqual(["sub"]);
    // The first change creates the directory's file.
    await store.addTag("busybox", ID1);
    expect(await readFile(path.join(dir, "sub", "repositories.json"), "utf8")).toBe(
      `{"Repositories":{"busybox":{"busybox:latest":"${ID1}"}}}`,
    );
  });
});

describe("update: many changes in one locked write", () => {
  it("applies adds and deletes together and returns the function's value", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("old:1", ID1);
    const result = await store.update((txn) => {
      txn.addTag("app:1.0", ID2);
      txn.addTag("app:latest", ID2);
      txn.addDigest(`app@${DIGEST}`, ID2);
      expect(txn.get("app")).toBe(ID2);
      expect(txn.references(ID2).map((e) => e.reference)).toEqual(["app:1.0", "app:latest", `app@${DIGEST}`]);
      return txn.delete("old:1");
    });
    expect(result.changed).toBe(true);
    expect(result.value).toBe(ID1);
    expect(serializeRepositoriesJson(result.snapshot)).toBe(await readFile(file, "utf8"));
    expect(await readFile(file, "utf8")).toBe(
      `{"Repositories":{"app":{"app:1.0":"${ID2}","app:latest":"${ID2}","app@${DIGEST}":"${ID2}"}}}`,
    );
  });

  it("writes nothing when the function throws, even after some changes", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("app:1.0", ID1);
    const before = await readFile(file, "utf8");
    const identity = await fileIdentity(file);
    const error = await caught(
      store.update((txn) => {
        txn.addTag("app:2.0", ID2);
        txn.delete("app:1.0");
        txn.addTag("app:2.0", ID3); // conflict: the whole update is abandoned
      }),
    );
    expect(error.kind).toBe("conflict");
    expect(await readFile(file, "utf8")).toBe(before);
    expect(await fileIdentity(file)).toEqual(identity);
    expect(await store.get("app:2.0")).toBeUndefined();
  });

  it("with createFile, writes an empty file where there is none, and only there", async () => {
    const store = new ReferenceStore(file);
    expect((await store.update(() => undefined, undefined, undefined, { createFile: true })).changed).toBe(true);
    expect(await readFile(file, "utf8")).toBe('{"Repositories":{}}');
    const identity = await fileIdentity(file);
    expect((await store.update(() => undefined, undefined, undefined, { createFile: true })).changed).toBe(false);
    expect(await fileIdentity(file)).toEqual(identity);
  });

  it("with missingFile, refuses an update of a missing file that was lost, naming it and the remedy; acceptMissing takes it as empty", async () => {
    let lost = true;
    const store = new ReferenceStore(file, { missingFile: { isLost: async () => lost, remedy: "run the repair" } });
    const refusal = await caught(store.addTag("app:1.0", ID1));
    expect([refusal.kind, refusal.message]).toEqual(["io", `${file}: no such file (moved or deleted?): put it back, or, to start with no references, write {"Repositories":{}} to it or run the repair`]);
    expect(await readdir(dir)).toEqual([]);
    // Reads are not refused: an absent file is an empty store to them.
    expect(await store.snapshot()).toEqual({ Repositories: {} });
    await store.update(() => undefined, undefined, undefined, { createFile: true, acceptMissing: true });
    expect(await readFile(file, "utf8")).toBe('{"Repositories":{}}');
    await rm(file);
    lost = false;
    await store.addTag("app:1.0", ID1);
    expect(await readFile(file, "utf8")).toBe(`{"Repositories":{"app":{"app:1.0":"${ID1}"}}}`);
  });

  it("does not write when the changes cancel out, and refuses a transaction used too late", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("app:1.0", ID1);
    const identity = await fileIdentity(file);
    let leaked: ReferenceTxn | undefined;
    const result = await store.update(async (txn) => {
      leaked = txn;
      txn.addTag("app:2.0", ID2);
      await new Promise((resolve) => setTimeout(resolve, 5));
      txn.delete("app:2.0");
    });
    expect(result.changed).toBe(false);
    expect(await fileIdentity(file)).toEqual(identity);
    expect(caughtSync(() => leaked?.addTag("app:3.0", ID3)).message).toBe(
      "reference store transaction used after its update finished",
    );
  });

  it("writes nothing when its lock was taken over while the function ran", async () => {
    const store = new ReferenceStore(file, { lock: { staleMs: 2000 } });
    await store.addTag("app:1.0", ID1);
    const before = await readFile(file);
    const lockDir = `${file}.lock`;
    const error = await caught(
      store.update(async (txn) => {
        txn.addTag("app:2.0", ID2);
        // Another process judged the lock stale and took it: a new lock directory, not our mtime.
        await rm(lockDir, { recursive: true });
        await mkdir(lockDir);
        const past = new Date(Date.now() - 60_000);
        await utimes(lockDir, past, past);
        await new Promise((resolve) => setTimeout(resolve, 2500)); // well past the first refresh, at staleMs / 2
      }),
    );
    expect(error.message).toBe(
      `lost the lock ${lockDir} while holding it: another process took it over, as this one had not refreshed it in time (stopped, or too busy); repositories.json was not changed: run the command again`,
    );
    expect(await readFile(file)).toEqual(before);
  });

  it("says so when its lock was lost after the file was written (stopped past the stale period)", async () => {
    const store = new ReferenceStore(file, { lock: { staleMs: 2000 } });
    const error = await caught(
      store.update(
        (txn) => txn.addTag("app:1.0", ID1),
        async () => {
          // What a SIGSTOP does to this process, without stopping the test runner: nothing runs for 1.2 s.
          const until = Date.now() + 1200;
          while (Date.now() < until);
        },
      ),
    );
    expect(error.message).toMatch(
      new RegExp(
        `^lost the lock ${file}\\.lock while holding it: this process did not run for 1\\.[2-9] s \\(stopped\\?\\), longer than half the 2 s after which another process may take the lock over; ` +
          "repositories\\.json had been written already, but another command may have changed it since: check the result before running this command again$",
      ),
    );
    expect(await readFile(file, "utf8")).toBe(`{"Repositories":{"app":{"app:1.0":"${ID1}"}}}`);
  });

  it("puts the file back as it was read, bytes and mode, when afterWrite fails and putBackIfAfterWriteFails is set", async () => {
    // Docker's own spacing, which a rewrite by lading would not keep.
    const text = `{"Repositories": {"app": {"app:1.0": "${ID1}", "app:2.0": "${ID1}"}}}\n`;
    await writeFile(file, text);
    await chmod(file, 0o640);
    const store = new ReferenceStore(file);
    const failure = new LadingError("io", "cannot remove the record");
    const error = await caught(
      store.update(
        (txn) => txn.delete("app:1.0"),
        async () => {
          expect(await readFile(file, "utf8")).toBe(`{"Repositories":{"app":{"app:2.0":"${ID1}"}}}`);
          throw failure;
        },
        undefined,
        { putBackIfAfterWriteFails: true },
      ),
    );
    expect(error).toBe(failure);
    expect(await readFile(file, "utf8")).toBe(text);
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    expect(await store.get("app:1.0")).toBe(ID1);
    // Without the option, what afterWrite throws leaves the file written.
    await caught(store.update((txn) => txn.delete("app:1.0"), async () => Promise.reject(failure)));
    expect(await readFile(file, "utf8")).toBe(`{"Repositories":{"app":{"app:2.0":"${ID1}"}}}`);
  });

  it("says so when the file cannot be put back after afterWrite failed (edited meanwhile), and leaves the edit", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("app:1.0", ID1);
    const edit = `{"Repositories":{"app":{"app:9":"${ID2}"}}}`;
    const error = await caught(
      store.update(
        (txn) => txn.delete("app:1.0"),
        async () => {
          await writeFile(file, edit);
          throw new LadingError("io", "cannot remove the record");
        },
        undefined,
        { putBackIfAfterWriteFails: true },
      ),
    );
    expect(error.message).toBe(
      "cannot remove the record; repositories.json was not put back as it was: another program changed it meanwhile",
    );
    expect(await readFile(file, "utf8")).toBe(edit);
  });

  it("serialises concurrent updates of one process without losing any", async () => {
    const store = new ReferenceStore(file);
    const other = new ReferenceStore(file);
    const ids = Array.from({ length: 30 }, (_, i) => `sha256:${i.toString(16).padStart(64, "0")}`);
    await Promise.all(ids.map((id, i) => (i % 2 === 0 ? store : other).addTag(`many:t${i}`, id)));
    const refs = await store.references();
    expect(refs).toHaveLength(30);
    expect(refs.find((e) => e.reference === "many:t17")?.id).toBe(ids[17]);
  });
});

describe("reading a file changed by someone else (reload from scratch)", () => {
  it("sees another writer's change and a hand edit without restarting", async () => {
    const reader = new ReferenceStore(file);
    const writer = new ReferenceStore(file);
    await writer.addTag("busybox", ID1);
    expect(await reader.get("busybox")).toBe(ID1);
    await writer.addTag("busybox", ID2, { force: true });
    expect(await reader.get("busybox")).toBe(ID2);
    await writeFileAtomic(file, `{\n  "Repositories": {\n    "alpine": { "alpine:3": "${ID3}" }\n  }\n}\n`);
    expect(await reader.get("busybox")).toBeUndefined();
    expect(await reader.references()).toEqual([{ reference: "alpine:3", id: ID3 }]);
    // The next change starts from the edited file, not from a stale memory.
    await reader.addTag("busybox", ID1);
    expect(await readFile(file, "utf8")).toBe(
      `{"Repositories":{"alpine":{"alpine:3":"${ID3}"},"busybox":{"busybox:latest":"${ID1}"}}}`,
    );
  });

  it("never replaces a file edited by another program while it updated: an editor's rename-away-and-rewrite, or a copy over it", async () => {
    const store = new ReferenceStore(file);
    await store.addTag("keep:1", ID1);
    const edited = `{"Repositories":{"keep":{"keep:1":"${ID1}"},"mine":{"mine:1":"${ID2}"}}}`;
    const editedAgain = `{"Repositories":{"keep":{"keep:1":"${ID1}"},"mine":{"mine:1":"${ID2}","mine:2":"${ID2}"}}}`;
    const editor = async (): Promise<void> => {
      await rename(file, `${file}~`); // emacs-style save: the file is briefly missing...
      await writeFile(file, editedAgain); // ...then written anew
    };
    // Read in the moment the file was missing: writing now would drop every other reference.
    await rename(file, `${file}~`);
    const whileMissing = await caught(store.update(async (txn) => {
      txn.addTag("x:1", ID3);
      await writeFile(file, edited);
    }));
    expect([whileMissing.kind, whileMissing.message]).toEqual([
      "conflict",
      `${file} changed while this command was updating it (edited by another program?); nothing was written: run the command again`,
    ]);
    expect(await readFile(file, "utf8")).toBe(edited);
    const whilePresent = await caught(store.update(async (txn) => {
      txn.addTag("x:1", ID3);
      await editor();
    }));
    expect(whilePresent.kind).toBe("conflict");
    expect(await readFile(file, "utf8")).toBe(editedAgain);
    expect((await readdir(dir)).sort()).toEqual(["repositories.json", "repositories.json~"]);
    // Run again, the update starts from the edited file and keeps the edit.
    await store.addTag("x:1", ID3);
    expect(await readFile(file, "utf8")).toBe(`{"Repositories":{"keep":{"keep:1":"${ID1}"},"mine":{"mine:1":"${ID2}","mine:2":"${ID2}"},"x":{"x:1":"${ID3}"}}}`);
  });

  it("refuses a broken file and leaves it untouched", async () => {
    const broken = `{"Repositories":{"busybox":{"busybox:latest":"sha256:nothex"}}}`;
    await writeFile(file, broken);
    const store = new ReferenceStore(file);
    const error = await caught(store.addTag("alpine", ID1));
    expect(error.kind).toBe("invalid");
    expect(error.message).toBe(
      `${file}: Repositories["busybox"]["busybox:latest"]: invalid image ID "sha256:nothex" (want sha256:<64 lowercase hex>)`,
    );
    expect(await readFile(file, "utf8")).toBe(broken);
    expect((await caught(store.get("busybox"))).kind).toBe("invalid");
  });
});

describe("a repositories.json that cannot be read", () => {
  it("a directory in its place: reads and updates fail in one line naming the file", async () => {
    await mkdir(file);
    const store = new ReferenceStore(file);
    // Started one at a time: a rejection while an earlier one is awaited would go unhandled.
    for (const attempt of [() => store.references(), () => store.get("busybox"), () => store.addTag("busybox", ID1)]) {
      const error = await caught(attempt());
      expect([error.kind, error.message, error.subject]).toEqual(["io", `${file}: is a directory`, file]);
    }
    expect(await readdir(dir)).toEqual(["repositories.json"]);
  });
});

describe("parseRepositoriesJson validation", () => {
  const cases: Array<[string, string, string]> = [
    ["not JSON", "{", "f: invalid JSON: "],
    ["an array", "[]", "f: expected a JSON object"],
    ["Repositories not an object", '{"Repositories":[]}', 'f: "Repositories" must be an object'],
    ["repository not an object", '{"Repositories":{"busybox":"x"}}', 'f: Repositories["busybox"] must be an object'],
    [
      "repository key in full form",
      `{"Repositories":{"docker.io/library/busybox":{}}}`,
      'f: Repositories["docker.io/library/busybox"]: not in familiar form (want "busybox")',
    ],
    [
      "repository key with a tag",
      `{"Repositories":{"busybox:1":{}}}`,
      'f: Repositories["busybox:1"]: not a repository name: invalid repository name (busybox:1): a tag or digest is not allowed here',
    ],
    [
      "repository key uppercase",
      `{"Repositories":{"BusyBox":{}}}`,
      'f: Repositories["BusyBox"]: not a repository name: invalid reference format: repository name (library/BusyBox) must be lowercase',
    ],
    [
      "repository named sha256",
      `{"Repositories":{"sha256":{"sha256:abc":"${ID1}"}}}`,
      'f: Repositories["sha256"]: a repository named "sha256" is refused (ambiguous with an image ID)',
    ],
    [
      "reference of another repository",
      `{"Repositories":{"busybox":{"alpine:latest":"${ID1}"}}}`,
      'f: Repositories["busybox"]["alpine:latest"]: reference of another repository',
    ],
    [
      "reference without tag",
      `{"Repositories":{"busybox":{"busybox":"${ID1}"}}}`,
      'f: Repositories["busybox"]["busybox"]: reference has neither tag nor digest',
    ],
    [
      "reference in full form",
      `{"Repositories":{"busybox":{"docker.io/library/busybox:latest":"${ID1}"}}}`,
      'f: Repositories["busybox"]["docker.io/library/busybox:latest"]: not in familiar form (want "busybox:latest")',
    ],
    [
      "reference with tag and digest",
      `{"Repositories":{"busybox":{"busybox:1@${DIGEST2}":"${ID1}"}}}`,
      `f: Repositories["busybox"]["busybox:1@${DIGEST2}"]: reference has both a tag and a digest (Docker stores the digest alone)`,
    ],
    [
      "invalid reference",
      `{"Repositories":{"busybox":{"busybox:-x":"${ID1}"}}}`,
      'f: Repositories["busybox"]["busybox:-x"]: not a reference: invalid reference format: "busybox:-x"',
    ],
    [
      "image ID not a string",
      `{"Repositories":{"busybox":{"busybox:latest":1}}}`,
      'f: Repositories["busybox"]["busybox:latest"]: invalid image ID 1 (want sha256:<64 lowercase hex>)',
    ],
    [
      "bare hex image ID",
      `{"Repositories":{"busybox":{"busybox:latest":"${ID1.slice(7)}"}}}`,
      `f: Repositories["busybox"]["busybox:latest"]: invalid image ID "${ID1.slice(7)}" (want sha256:<64 lowercase hex>)`,
    ],
    [
      "duplicate key",
      `{"Repositories":{"busybox":{"busybox:latest":"${ID1}","busybox:latest":"${ID2}"}}}`,
      'f: duplicate key "busybox:latest"',
    ],
  ];
  it.each(cases)("refuses %s", (_name, text, message) => {
    const error = caughtSync(() => parseRepositoriesJson(text, "f"));
    expect(error.kind).toBe("invalid");
    expect(error.message.startsWith(message)).toBe(true);
    if (!message.endsWith(": ")) expect(error.message).toBe(message);
  });

  it("accepts {}, a null Repositories, unknown top-level keys and an empty repository", () => {
    expect(parseRepositoriesJson("{}", "f")).toEqual({ Repositories: {} });
    expect(parseRepositoriesJson('{"Repositories":null}', "f")).toEqual({ Repositories: {} });
    expect(parseRepositoriesJson('{"Other":1,"Repositories":{}}', "f")).toEqual({ Repositories: {} });
    const withEmpty = parseRepositoriesJson('{"Repositories":{"busybox":{}}}', "f");
    expect(serializeRepositoriesJson(withEmpty)).toBe('{"Repositories":{"busybox":{}}}');
  });

  it("returns a frozen snapshot, and indexRepositories derives sorted lookups from it", () => {
    const parsed = parseRepositoriesJson(MARSHALLED, "f");
    expect(Object.isFrozen(parsed)).toBe(true);
    expect(Object.isFrozen(parsed.Repositories)).toBe(true);
    expect(Object.isFrozen(parsed.Repositories.busybox)).toBe(true);
    const state = indexRepositories(parsed);
    expect(state.entries.map((e) => e.reference)).toEqual([
      "busybox:latest",
      "jess/hollywood:latest",
      "registry:5000/foobar:HEAD",
      "registry:5000/foobar:alternate",
      "registry:5000/foobar:latest",
      "registry:5000/foobar:master",
      "registry@sha256:367eb40fd0330a7e464777121e39d2f5b3e8e23a1e159342e53ab05c9e4d94e6",
    ]);
    expect(state.idByReference.get("jess/hollywood:latest")).toBe(SAVE_LOAD_CASES["jess/hollywood:latest"]);
  });
});

describe("parseRepositoriesJson shortcuts accept exactly what the full checks accept", () => {
  /** The full rule for one reference key of repository `repoName`, straight from the grammar. */
  function fullRuleAccepts(refKey: string, repoName: string): boolean {
    try {
      const ref = parseReference(refKey);
      if (familiarName(ref) !== repoName) return false;
      if ((ref.tag === undefined) === (ref.digest === undefined)) return false;
      return formatReference(ref, "familiar") === refKey;
    } catch {
      return false;
    }
  }

  function accepted(repoName: string, refKey: string): boolean {
    try {
      parseRepositoriesJson(JSON.stringify({ Repositories: { [repoName]: { [refKey]: ID1 } } }), "f");
      return true;
    } catch (error) {
      expect(error).toBeInstanceOf(LadingError);
      return false;
    }
  }

  const REPOSITORIES = ["busybox", "library/x/y", "team/app", "localhost:5000/team/x", "registry.example.com/a", "[::1]:5000/v6", "a-b", "a", "123"];

  it("agrees on generated keys: tags, digests, and near misses (fixed seed)", () => {
    const tail = fc.oneof(
      fc.stringMatching(/^:[\w][\w.-]{0,130}$/),
      fc.stringMatching(/^:[A-Za-z0-9._:@/-]{0,8}$/),
      fc.stringMatching(/^@sha(256|512|1):[0-9a-fA-F]{62,66}$/),
      fc.stringMatching(/^@sha512:[0-9a-f]{127,129}$/),
      fc.constant(""),
      fc.stringMatching(/^[/:@][a-z0-9]{1,6}(:[a-z0-9]{1,4})?$/),
    );
    fc.assert(
      fc.property(fc.constantFrom(...REPOSITORIES), fc.constantFrom("", "docker.io/", "library/", "docker.io/library/"), tail, (repoName, prefix, suffix) => {
        const refKey = `${prefix}${repoName}${suffix}`;
        expect(accepted(repoName, refKey)).toBe(fullRuleAccepts(refKey, repoName));
      }),
      { seed: 55, numRuns: 3000 },
    );
  });

  it("accepts sha512 digest references and names the first bad key in byte order, whatever the file's order", () => {
    const sha512 = `sha512:${"ab".repeat(64)}`;
    expect(parseRepositoriesJson(`{"Repositories":{"busybox":{"busybox@${sha512}":"${ID1}"}}}`, "f").Repositories.busybox).toEqual({ [`busybox@${sha512}`]: ID1 });
    const unsorted = `{"Repositories":{"zeta":{"zeta:-bad":"${ID1}"},"alpha":{"alpha:ok":"${ID1}","alpha:-x":"${ID1}"}}}`;
    expect(caughtSync(() => parseRepositoriesJson(unsorted, "f")).message).toBe('f: Repositories["alpha"]["alpha:-x"]: not a reference: invalid reference format: "alpha:-x"');
    const upper = `{"Repositories":{"busybox":{"busybox@sha256:${"A".repeat(64)}":"${ID1}"}}}`;
    expect(caughtSync(() => parseRepositoriesJson(upper, "f")).message).toBe(
      `f: Repositories["busybox"]["busybox@sha256:${"A".repeat(64)}"]: not a reference: invalid reference format: invalid checksum digest format (sha256:${"A".repeat(64)})`,
    );
    // A repository name found valid once is remembered, but an invalid one is refused every time.
    for (let i = 0; i < 2; i++) {
      expect(caughtSync(() => parseRepositoriesJson(`{"Repositories":{"Busybox":{}}}`, "f")).message).toBe(
        'f: Repositories["Busybox"]: not a repository name: invalid reference format: repository name (library/Busybox) must be lowercase',
      );
    }
  });

  it("keeps a file's keys in byte order and gives the same state for a reordered file", () => {
    const ordered = parseRepositoriesJson(MARSHALLED, "f");
    const reordered = parseRepositoriesJson(JSON.stringify({ Repositories: Object.fromEntries(Object.entries(JSON.parse(MARSHALLED).Repositories as object).reverse()) }), "f");
    expect(Object.keys(reordered.Repositories)).toEqual(Object.keys(ordered.Repositories));
    expect(serializeRepositoriesJson(reordered)).toBe(MARSHALLED);
    expect(indexRepositories(reordered).entries).toEqual(indexRepositories(ordered).entries);
  });
});

describe("writeFileAtomic", () => {
  it("writes a new file with the given mode, replaces one keeping its mode, and leaves no temp file", async () => {
    await writeFileAtomic(file, Buffer.from("first"), 0o640);
    expect((await stat(file)).mode & 0o777).toBe(0o640);
    await chmod(file, 0o604);
    await writeFileAtomic(file, Buffer.from("new"), 0o640);
    expect(await readFile(file, "utf8")).toBe("new");
    expect((await stat(file)).mode & 0o777).toBe(0o604);
    expect(await readdir(dir)).toEqual(["repositories.json"]);
  });

  it("keeps each file's mode in a batch (image records), and gives new ones the batch's", async () => {
    const [a, b] = [path.join(dir, "a.json"), path.join(dir, "b.json")];
    await writeFile(a, "old");
    await chmod(a, 0o640);
    await writeFilesAtomic([{ path: a, data: "A" }, { path: b, data: "B" }], 0o644);
    expect([(await stat(a)).mode & 0o777, (await stat(b)).mode & 0o777]).toEqual([0o640, 0o644]);
    expect((await readdir(dir)).sort()).toEqual(["a.json", "b.json"]);
  });

  it.skipIf(process.geteuid?.() !== 0)("as root, keeps the owner and group of the file it replaces", async () => {
    await writeFile(file, "old");
    await chown(file, 65534, 65534);
    await writeFileAtomic(file, "new", 0o600);
    const info = await stat(file);
    expect([info.uid, info.gid, await readFile(file, "utf8")]).toEqual([65534, 65534, "new"]);
  });

  it("removes its temp file when the rename fails, keeps the target, and names it in one line", async () => {
    const target = path.join(dir, "target");
    await mkdir(target);
    await writeFile(path.join(target, "inside"), "kept");
    const error = await writeFileAtomic(target, "data").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LadingError);
    expect(((error as LadingError).cause as NodeJS.ErrnoException).code).toMatch(/^(EISDIR|ENOTEMPTY|EEXIST)$/);
    expect((error as LadingError).message).toMatch(new RegExp(`^cannot write ${target}: (illegal operation on a directory|directory not empty|file already exists)$`));
    expect(await readdir(dir)).toEqual(["target"]);
    expect(await readFile(path.join(target, "inside"), "utf8")).toBe("kept");
  });
});
