/**
 * Makes a command's image-record changes and its repositories.json write one step, also when the
 * process is killed between them.
 *
 * A load or pull writes its image records before the references that name them (so no reference
 * ever names a missing record), and rmi deletes a record after the references that named it. A
 * process killed in between used to leave an image no command had reported: a `<none>` image
 * of a load or pull that never finished, or one an rmi had untagged but not removed.
 *
 * Before it changes a record, such a command writes this journal, under the references' lock:
 * the records it is about to write (each with the record it replaces, or none), the records to
 * delete once the references are written, and the sha256 of the repositories.json text it is about
 * to write. Whoever next takes the lock settles the journal first: if repositories.json is that
 * text, the command got as far as its commit point, and the deletions are done; if not, the
 * records are put back as they were. The command itself settles it the same way when it ends,
 * whether it succeeded or failed. A command whose references do not change (an untagged image)
 * has no commit point but its own end: killed before it, its records are put back.
 */
import { createHash } from "node:crypto";
import { readFile, unlink } from "node:fs/promises";
import { parseJsonStrict } from "../core/json.js";
import { writeFileAtomic } from "./atomic-file.js";
import { imageRecordSchema, mergeImageRecords, type ImageRecord, type ImageRecords } from "./image-records.js";
import type { ReferenceTxn, UpdateJournal } from "./reference-store.js";

interface JournalEntry {
  /** sha256 (hex) of the repositories.json text the command writes. */
  references: string;
  /** Whether that text is the one the command read: then only the command's own end commits it. */
  unchanged: boolean;
  /** Records about to be written, each with the one it replaces (null: none). */
  written: { id: string; previous: ImageRecord | null }[];
  /** Records to delete once the references are written. */
  deleted: string[];
}

export interface SettledJournal {
  /** Records a command wrote but never committed, put back as they were (or removed). */
  restored: string[];
  /** Records a committed command (rmi) had left to delete, deleted now. */
  deleted: string[];
}

export class RecordJournal implements UpdateJournal {
  private lastRecovered: SettledJournal | undefined;

  constructor(
    private readonly file: string,
    private readonly records: ImageRecords,
  ) {}

  /**
   * Call under the references' lock (inside an update), once `txn` holds every reference change
   * and before any record changes: `add` the records about to be added (see ImageRecords.add),
   * `delete` the IDs of those to delete once the references are written. Writes nothing when no
   * record changes (a second load of the same archive writes nothing at all).
   */
  async begin(txn: ReferenceTxn, plan: { add?: readonly ImageRecord[]; delete?: readonly string[] }): Promise<void> {
    const { before, after } = txn.texts();
    const written: JournalEntry["written"] = [];
    const current = new Map<string, ImageRecord | null>();
    for (const record of plan.add ?? []) {
      if (!current.has(record.id)) current.set(record.id, (await this.records.get(record.id)) ?? null);
      const previous = current.get(record.id) ?? null;
      const merged = previous === null ? record : mergeImageRecords(previous, record);
      if (previous !== null && JSON.stringify(merged) === JSON.stringify(previous)) continue;
      if (!written.some((entry) => entry.id === record.id)) written.push({ id: record.id, previous });
      current.set(record.id, merged);
    }
    if (written.length === 0 && (plan.delete ?? []).length === 0) return;
    const entry: JournalEntry = { references: sha256(after), unchanged: before === after, written, deleted: [...(plan.delete ?? [])] };
    await writeFileAtomic(this.file, JSON.stringify(entry), 0o600);
  }

  /** What settling found: the records put back (the command had not committed) or deleted (it had); undefined when there was no journal. */
  async settle(current: Buffer | null, ended: boolean): Promise<SettledJournal | undefined> {
    const entry = await this.read();
    if (entry === undefined) return undefined;
    const committed = ended || (!entry.unchanged && current !== null && sha256(current) === entry.references);
    const settled: SettledJournal = { restored: [], deleted: [] };
    if (committed) {
      for (const id of entry.deleted) if (await this.records.delete(id)) settled.deleted.push(id);
    } else {
      for (const { id, previous } of [...entry.written].reverse()) {
        if (previous === null) await this.records.delete(id);
        else await this.records.put(previous);
        settled.restored.push(id);
      }
    }
    await unlink(this.file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== "ENOENT") throw error;
    });
    if (!ended) this.lastRecovered = settled;
    return settled;
  }

  /**
   * Settles what a killed command left, if anything: a no-op update takes the references' lock
   * and, with it, settles the journal (a command under way holds that lock, so it has ended by then).
   */
  async recover(references: { update(fn: () => undefined): Promise<unknown> }): Promise<SettledJournal | undefined> {
    if (!(await this.pending())) return undefined;
    this.lastRecovered = undefined;
    await references.update(() => undefined);
    return this.lastRecovered;
  }

  /** Whether a journal is there (a command is under way, or was killed): settling it needs the references' lock. */
  async pending(): Promise<boolean> {
    return (await readFile(this.file).then(() => true, () => false));
  }

  private async read(): Promise<JournalEntry | undefined> {
    let bytes: Buffer;
    try {
      bytes = await readFile(this.file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw error;
    }
    const entry = parseJournal(bytes);
    // Written whole or not at all (an atomic write): anything else was made by hand, and says nothing to act on.
    if (entry === undefined) await unlink(this.file).catch(() => undefined);
    return entry;
  }
}

function parseJournal(bytes: Buffer): JournalEntry | undefined {
  try {
    const value = parseJsonStrict(bytes, "record journal") as Partial<JournalEntry>;
    if (typeof value.references !== "string" || typeof value.unchanged !== "boolean" || !Array.isArray(value.written) || !Array.isArray(value.deleted)) return undefined;
    const written = value.written.map(({ id, previous }) => {
      const record = previous === null ? null : imageRecordSchema.safeParse(previous);
      if (typeof id !== "string" || (record !== null && (!record.success || record.data.id !== id))) throw new Error("bad entry");
      return { id, previous: record === null ? null : record.data };
    });
    if (!value.deleted.every((id) => typeof id === "string")) return undefined;
    return { references: value.references, unchanged: value.unchanged, written, deleted: value.deleted };
  } catch {
    return undefined;
  }
}

function sha256(text: string | Buffer): string {
  return createHash("sha256").update(text).digest("hex");
}
