/**
 * `fsck --repair` of a repositories.json that cannot be read (a hand edit gone wrong): every
 * entry that is valid on its own is kept, the rest dropped, and the file as it was is kept beside
 * it, so nothing is lost that a person could still fix by hand. Docker would not start on such a
 * file; lading's commands refuse it until it is repaired.
 */
import { constants } from "node:fs";
import { copyFile, readdir, readFile, unlink } from "node:fs/promises";
import path from "node:path";
import { cannotWrite } from "../core/errors.js";
import { goFold } from "../core/go-reading.js";
import { isJsonObject } from "../core/json.js";
import { removeIfPresent, writeFileAtomic } from "./atomic-file.js";
import { withFileLock } from "./lock.js";
import { parseRepositoriesJson, serializeRepositoriesJson, unchangedSinceRead, type ReferenceStore } from "./reference-store.js";

export interface SalvagedReferences {
  kept: number;
  /**
   * How many entries were dropped; undefined when the file is no JSON object with a
   * "Repositories" object (truncated, empty, not JSON), so that no entry could be read or counted.
   */
  dropped: number | undefined;
  /** Where the unreadable file was copied. */
  backup: string;
}

/** Rewrites an unreadable repositories.json from its valid entries; undefined when it reads fine. */
export async function salvageReferences(references: ReferenceStore): Promise<SalvagedReferences | undefined> {
  const file = references.filePath;
  return withFileLock(file, async (lock) => {
    const bytes = await readFile(file);
    try {
      parseRepositoriesJson(bytes, file);
      return undefined;
    } catch {
      // Unreadable: salvage below.
    }
    const { kept, dropped } = validEntries(bytes);
    // A repair killed before its rewrite left a copy of these very bytes: it serves, rather than a second.
    const earlier = (await redundantCopies(file, bytes))[0];
    const backup = earlier ?? `${file}.broken-${new Date().toISOString().replace(/[:.]/g, "-")}`;
    // The copy is kept only beside a rewritten file: a repair that fails leaves no new file.
    if (earlier === undefined) {
      try {
        await copyFile(file, backup, constants.COPYFILE_EXCL);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== "EEXIST") await removeIfPresent(backup).catch(() => undefined);
        throw cannotWrite(backup, error);
      }
    }
    try {
      await writeFileAtomic(file, serializeRepositoriesJson(parseRepositoriesJson(JSON.stringify({ Repositories: kept }), file)), 0o600, {
        beforeRename: unchangedSinceRead(file, bytes, lock),
      });
    } catch (error) {
      if (earlier === undefined) await removeIfPresent(backup).catch(() => undefined);
      throw error;
    }
    return { kept: Object.values(kept).reduce((sum, refs) => sum + Object.keys(refs).length, 0), dropped, backup };
  });
}

/** A copy's name past `<file>.broken-`: the time it was made (see salvageReferences). */
const COPY_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z$/;

/**
 * The copies --repair made of `file` (`<file>.broken-<time>`) that hold the same bytes as it now
 * (`bytes`, else read): left by a repair killed before its rewrite, they keep nothing the file
 * does not. A copy that differs may hold the only record of references since lost, and is kept.
 */
export async function redundantCopies(file: string, bytes?: Buffer): Promise<string[]> {
  const prefix = `${path.basename(file)}.broken-`;
  const names = await readdir(path.dirname(file)).catch(() => [] as string[]);
  const copies = names.filter((name) => name.startsWith(prefix) && COPY_TIME.test(name.slice(prefix.length))).sort();
  if (copies.length === 0) return [];
  const current = bytes ?? (await readFile(file).catch(() => undefined));
  if (current === undefined) return [];
  const same: string[] = [];
  for (const name of copies) {
    const copy = path.join(path.dirname(file), name);
    if ((await readFile(copy).catch(() => undefined))?.equals(current)) same.push(copy);
  }
  return same;
}

/**
 * Removes `copy` if it still holds the same bytes as `file`. Under the file's lock: a repair
 * running beside makes its copy and rewrites the file under it, so a copy seen there is no
 * other repair's, made just before its rewrite. Returns whether it was removed.
 */
export async function removeRedundantCopy(file: string, copy: string): Promise<boolean> {
  return withFileLock(file, async () => {
    if (!(await redundantCopies(file)).includes(copy)) return false;
    await unlink(copy);
    return true;
  });
}

/**
 * The entries that pass on their own, and how many did not. A text that is no JSON object with a
 * "Repositories" object has no entries to count: none is kept, and dropped is undefined (a
 * truncated document is not pieced together: what it held past the cut cannot be known).
 */
export function validEntries(bytes: Buffer): { kept: Record<string, Record<string, string>>; dropped: number | undefined } {
  const document = wholeDocument(bytes.toString("utf8").replace(/^\uFEFF/, ""));
  const kept: Record<string, Record<string, string>> = {};
  let dropped = 0;
  if (!isJsonObject(document)) return { kept, dropped: undefined };
  // Read as dockerd reads the file: a key that is "Repositories" once folded ("repositories") is that field.
  const repositoryObjects = Object.entries(document)
    .filter(([key, value]) => goFold(key) === goFold("Repositories") && isJsonObject(value))
    .map(([, value]) => value as Record<string, unknown>);
  if (repositoryObjects.length === 0) return { kept, dropped: undefined };
  const repositories: Record<string, unknown> = Object.assign({}, ...repositoryObjects);
  for (const [repository, refs] of Object.entries(repositories)) {
    if (!isJsonObject(refs)) {
      dropped++;
      continue;
    }
    for (const [reference, id] of Object.entries(refs)) {
      try {
        parseRepositoriesJson(JSON.stringify({ Repositories: { [repository]: { [reference]: id } } }), "entry");
        (kept[repository] ??= {})[reference] = id as string;
      } catch {
        dropped++;
      }
    }
  }
  return { kept, dropped };
}

/**
 * The text's JSON document, also when bytes follow a complete one (zeros a crash left at the end
 * of the file): that document, whole, is what was written. Undefined when there is none.
 */
function wholeDocument(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    const end = /after JSON at position (\d+)/.exec((error as Error).message);
    if (end === null) return undefined;
    try {
      return JSON.parse(text.slice(0, Number(end[1])));
    } catch {
      return undefined;
    }
  }
}
