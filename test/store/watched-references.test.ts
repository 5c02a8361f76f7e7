import { mkdir, mkdtemp, readdir, rename, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { ReferenceStore, type ReferenceState } from "../../src/store/reference-store.js";
import { Store } from "../../src/store/store.js";
import { WatchedReferences } from "../../src/store/watched-references.js";

const ID1 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9c";
const ID2 = "sha256:9655aef5fd742a1b4e1b7b163aa9f1c76c186304bf39102283d80927c916ca9d";

let dir = "";
let file = "";
const opened: WatchedReferences[] = [];

function watched(options: ConstructorParameters<typeof WatchedReferences>[1] = {}): WatchedReferences {
  const store = new WatchedReferences(file, options);
  opened.push(store);
  return store;
}

/** Replaces the file as a person or a sync tool would: a temp file, then rename. */
async function replaceByHand(text: string): Promise<void> {
  const temp = path.join(dir, "hand-edit.tmp");
  await writeFile(temp, text);
  await rename(temp, file);
}

function nextEvent<E extends "change" | "invalid">(store: WatchedReferences, event: E): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} event within 2 s`)), 2000);
    store.once(event, (value: unknown) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "lading-watched-"));
  file = path.join(dir, "repositories.json");
});

afterEach(async () => {
  for (const store of opened.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
});

describe("WatchedReferences", () => {
  it("sees a change made by another writer on the next read", async () => {
    const reader = watched({ watch: false });
    const writer = new ReferenceStore(file);
    expect(await reader.references()).toEqual([]);
    await writer.addTag("busybox", ID1);
    expect(await reader.get("busybox:latest")).toBe(ID1);
    await writer.addTag("localhost:5000/team/x:v1", ID2);
    expect(await reader.references()).toEqual([
      { reference: "busybox:latest", id: ID1 },
      { reference: "localhost:5000/team/x:v1", id: ID2 },
    ]);
  });

  it("emits 'change' from the directory watcher without any read", async () => {
    const reader = watched();
    expect(reader.watching).toBe(true);
    await reader.state();
    const changed = nextEvent(reader, "change");
    await new ReferenceStore(file).addTag("alpine:3", ID2);
    const state = (await changed) as ReferenceState;
    expect(state.entries).toEqual([{ reference: "alpine:3", id: ID2 }]);
  });

  it("refuses a directory where repositories.json belongs in one line naming it", async () => {
    await mkdir(file);
    const reader = watched({ watch: false });
    const error = await reader.references().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(LadingError);
    expect([(error as LadingError).kind, (error as LadingError).message, (error as LadingError).subject]).toEqual(["io", `${file}: is a directory`, file]);
    expect(await readdir(dir)).toEqual(["repositories.json"]);
  });

  it("sees a hand replacement by temp file and rename", async () => {
    const reader = watched({ watch: false });
    await new ReferenceStore(file).addTag("busybox", ID1);
    expect(await reader.get("busybox")).toBe(ID1);
    await replaceByHand(`{"Repositories":{"team/app":{"team/app:1.0":"${ID2}"}}}`);
    expect(await reader.references()).toEqual([{ reference: "team/app:1.0", id: ID2 }]);
    expect(await reader.get("busybox")).toBeUndefined();
  });

  it("keeps the last good state when the file turns invalid, exposes why, and recovers", async () => {
    const reader = watched({ watch: false, retryDelayMs: 1 });
    const invalidEvents: string[] = [];
    reader.on("invalid", (error) => invalidEvents.push(error.message));
    await replaceByHand(`{"Repositories":{"busybox":{"busybox:latest":"${ID1}"}}}`);
    expect(await reader.get("busybox")).toBe(ID1);

    await replaceByHand('{"Repositories":{"busybox":');
    expect(await reader.references()).toEqual([{ reference: "busybox:latest", id: ID1 }]);
    expect(reader.problem?.message).toBe(`${file}: invalid JSON: Unexpected end of JSON input`);
    expect(reader.problem?.kind).toBe("invalid");
    // A second read of the same broken file announces nothing new.
    expect(await reader.get("busybox")).toBe(ID1);
    expect(invalidEvents).toEqual([`${file}: invalid JSON: Unexpected end of JSON input`]);
    // An update never overwrites the broken file with the old state.
    await expect(reader.addTag("other", ID2)).rejects.toThrow(`${file}: invalid JSON: Unexpected end of JSON input`);

    await replaceByHand(`{"Repositories":{"Busybox":{"Busybox:latest":"${ID1}"}}}`);
    expect(await reader.get("busybox")).toBe(ID1);
    expect(reader.problem?.message).toBe(
      `${file}: Repositories["Busybox"]: not a repository name: invalid reference format: repository name (library/Busybox) must be lowercase`,
    );

    await replaceByHand(`{"Repositories":{"alpine":{"alpine:3":"${ID2}"}}}`);
    expect(await reader.references()).toEqual([{ reference: "alpine:3", id: ID2 }]);
    expect(reader.problem).toBeUndefined();
  });

  it("fails reads with the file's error while no valid file has been read, rather than serve an empty state", async () => {
    await writeFile(file, '{"Repositories":{"busybox":');
    const reader = watched({ watch: false, retryDelayMs: 1 });
    const message = `${file}: invalid JSON: Unexpected end of JSON input`;
    await expect(reader.references()).rejects.toThrow(message);
    await expect(reader.get("busybox")).rejects.toThrow(message);
    expect([reader.hasGoodState, reader.problem?.message]).toEqual([false, message]);
    const events: string[] = [];
    reader.on("recovered", (state) => events.push(`recovered ${state.entries.map((entry) => entry.reference).join(",")}`));
    await replaceByHand(`{"Repositories":{"busybox":{"busybox:latest":"${ID1}"}}}`);
    expect(await reader.references()).toEqual([{ reference: "busybox:latest", id: ID1 }]);
    expect([reader.hasGoodState, reader.problem, events]).toEqual([true, undefined, ["recovered busybox:latest"]]);
    await replaceByHand('{"Repositories":');
    expect(await reader.get("busybox")).toBe(ID1);
  });

  it("serves an empty state for a missing file, without a 'change'", async () => {
    const reader = watched({ watch: false });
    const events: string[] = [];
    reader.on("change", () => events.push("change"));
    expect([await reader.references(), reader.hasGoodState, events]).toEqual([[], true, []]);
  });

  it("announces the first valid file after an invalid one with 'recovered', once, even when it is the last good one again", async () => {
    const reader = watched({ watch: false, retryDelayMs: 1 });
    const events: string[] = [];
    reader.on("invalid", () => events.push("invalid"));
    reader.on("change", (state) => events.push(`change ${state.entries.map((entry) => entry.reference).join(",")}`));
    reader.on("recovered", (state) => events.push(`recovered ${state.entries.map((entry) => entry.reference).join(",")}`));
    const good = `{"Repositories":{"busybox":{"busybox:latest":"${ID1}"}}}`;
    await replaceByHand(good);
    await reader.references();
    await replaceByHand('{"Repositories":{"busybox":');
    await reader.references();
    await replaceByHand(good);
    await reader.references();
    await replaceByHand(`{"Repositories":{"alpine":`);
    await reader.references();
    await replaceByHand(`{"Repositories":{"alpine":{"alpine:3":"${ID2}"}}}`);
    await reader.references();
    await replaceByHand(`{"Repositories":{"alpine":{"alpine:3":"${ID1}"}}}`);
    await reader.references();
    expect(events).toEqual([
      "change busybox:latest",
      "invalid",
      "recovered busybox:latest",
      "invalid",
      "change alpine:3",
      "recovered alpine:3",
      "change alpine:3",
    ]);
  });

  it("retries a parse that races a writer instead of reporting the file invalid", async () => {
    const reader = watched({ watch: false, parseRetries: 3, retryDelayMs: 60 });
    const invalidEvents: string[] = [];
    reader.on("invalid", (error) => invalidEvents.push(error.message));
    await writeFile(file, '{"Repositories":{"alpine":');
    const read = reader.references();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await replaceByHand(`{"Repositories":{"alpine":{"alpine:3":"${ID2}"}}}`);
    expect(await read).toEqual([{ reference: "alpine:3", id: ID2 }]);
    expect(invalidEvents).toEqual([]);
    expect(reader.problem).toBeUndefined();
  });

  it("drops a reference deleted by another process", async () => {
    const reader = watched({ watch: false });
    const writer = new ReferenceStore(file);
    await writer.addTag("a:1", ID1);
    await writer.addTag("b:1", ID2);
    expect((await reader.references()).map((entry) => entry.reference)).toEqual(["a:1", "b:1"]);
    await writer.delete("a:1");
    expect(await reader.references()).toEqual([{ reference: "b:1", id: ID2 }]);
    expect(await reader.get("a:1")).toBeUndefined();
  });

  it("keeps the last good state when the file it read goes missing, refuses updates meanwhile, and recovers when it is back", async () => {
    const reader = watched({ watch: false, retryDelayMs: 1 });
    const events: string[] = [];
    reader.on("invalid", (error) => events.push(`invalid ${error.message}`));
    reader.on("recovered", (state) => events.push(`recovered ${state.entries.length}`));
    await replaceByHand(`{"Repositories":{"a":{"a:1":"${ID1}"}}}`);
    expect(await reader.references()).toEqual([{ reference: "a:1", id: ID1 }]);

    await rename(file, path.join(dir, "aside.json"));
    const missing = `${file}: no such file (moved or deleted?): put it back, or, to start with no references, write {"Repositories":{}} to it or call reload()`;
    // Not every image untagged: the last good state, and why.
    expect(await reader.references()).toEqual([{ reference: "a:1", id: ID1 }]);
    expect([reader.problem?.message, reader.missing, reader.hasGoodState]).toEqual([missing, true, true]);
    // No new file with one reference in place of the one that went away.
    const refused = await reader.addTag("b:1", ID2).catch((error: unknown) => error as LadingError);
    expect([refused instanceof LadingError, (refused as LadingError).message]).toEqual([true, missing]);
    expect(await readdir(dir)).toEqual(["aside.json"]);

    await rename(path.join(dir, "aside.json"), file);
    expect(await reader.references()).toEqual([{ reference: "a:1", id: ID1 }]);
    expect([reader.problem, reader.missing]).toEqual([undefined, false]);
    expect(events).toEqual([`invalid ${missing}`, "recovered 1"]);
    await reader.addTag("b:1", ID2);
    expect((await reader.references()).map((entry) => entry.reference)).toEqual(["a:1", "b:1"]);
  });

  it("names a symbolic link whose target went away", async () => {
    const target = path.join(dir, "shared", "repositories.json");
    await mkdir(path.dirname(target));
    await writeFile(target, `{"Repositories":{"a":{"a:1":"${ID1}"}}}`);
    await symlink(target, file);
    const reader = watched({ watch: false, retryDelayMs: 1 });
    expect(await reader.get("a:1")).toBe(ID1);
    await unlink(target);
    expect(await reader.get("a:1")).toBe(ID1);
    expect(reader.problem?.message).toBe(`${file}: a symbolic link to ${target}, which does not exist: put it back, or, to start with no references, write {"Repositories":{}} to it or call reload()`);
  });

  it("takes a missing file as an empty store when the store's image records are gone too, and may write it", async () => {
    let recordsGone = false;
    const reader = watched({ watch: false, retryDelayMs: 1, recordsGone: async () => recordsGone });
    await replaceByHand(`{"Repositories":{"a":{"a:1":"${ID1}"}}}`);
    expect(await reader.references()).toEqual([{ reference: "a:1", id: ID1 }]);
    await unlink(file);
    recordsGone = true;
    // Not read yet since it went: the update's own check under the lock lets it write.
    await reader.addTag("b:1", ID2);
    expect([await reader.references(), reader.problem]).toEqual([[{ reference: "b:1", id: ID2 }], undefined]);
    await unlink(file);
    expect([await reader.references(), reader.problem, reader.servingNoFile]).toEqual([[], undefined, true]);
  });

  it("reload() takes a missing file as an empty store, after which it may be written", async () => {
    const reader = watched({ watch: false, retryDelayMs: 1 });
    await replaceByHand(`{"Repositories":{"a":{"a:1":"${ID1}"}}}`);
    expect(await reader.references()).toEqual([{ reference: "a:1", id: ID1 }]);
    await unlink(file);
    expect([await reader.references(), reader.missing]).toEqual([[{ reference: "a:1", id: ID1 }], true]);
    expect((await reader.reload()).entries).toEqual([]);
    expect([reader.problem, reader.servingNoFile]).toEqual([undefined, true]);
    await reader.addTag("b:1", ID2);
    expect(await reader.references()).toEqual([{ reference: "b:1", id: ID2 }]);
  });

  it("a missing file read first is an empty store, and may be written", async () => {
    const reader = watched({ watch: false });
    expect(await reader.references()).toEqual([]);
    await reader.addTag("a:1", ID1);
    expect([await reader.references(), reader.problem]).toEqual([[{ reference: "a:1", id: ID1 }], undefined]);
  });

  it("passes an update's onFailure on: a load through it puts its records back when its references are not written", async () => {
    const reader = watched({ watch: false });
    const seen: unknown[] = [];
    const failing = reader.update(
      () => {
        throw new Error("boom");
      },
      undefined,
      async (current) => {
        seen.push(current);
      },
    );
    await expect(failing).rejects.toThrow("boom");
    expect(seen).toEqual([{ Repositories: {} }]);
  });

  it("reload() re-reads on demand and emits 'change' only when the document changed", async () => {
    const reader = watched({ watch: false });
    const changes: string[][] = [];
    reader.on("change", (state) => changes.push(state.entries.map((entry) => entry.reference)));
    await replaceByHand(`{"Repositories":{"a":{"a:1":"${ID1}"}}}`);
    expect((await reader.reload()).entries).toEqual([{ reference: "a:1", id: ID1 }]);
    expect((await reader.reload()).entries).toEqual([{ reference: "a:1", id: ID1 }]);
    expect(changes).toEqual([["a:1"]]);
    await reader.addTag("b:2", ID2);
    expect(changes).toEqual([["a:1"], ["a:1", "b:2"]]);
  });

  it("serves concurrent reads of one change from a single file read", async () => {
    const reader = watched({ watch: false });
    await replaceByHand(`{"Repositories":{"a":{"a:1":"${ID1}"}}}`);
    const states = await Promise.all([reader.state(), reader.state(), reader.state()]);
    expect(states[0]).toBe(states[1]);
    expect(states[1]).toBe(states[2]);
    expect(await reader.state()).toBe(states[0]);
  });

  it("plugs into Store.open as its reference store", async () => {
    let made: WatchedReferences | undefined;
    const store = await Store.open(dir, {
      references: (filePath) => {
        expect(filePath).toBe(file);
        made = watched({ watch: false });
        return made;
      },
    });
    expect(store.references).toBe(made);
    await new ReferenceStore(file).addTag("x:1", ID1);
    expect(await store.references.get("x:1")).toBe(ID1);
  });
});
