/**
 * Which process made a file, and whether that process is gone.
 *
 * Files a running command owns (ingest files, gc leases, temp files) carry an owner tag in their
 * name: `<pid>-n<namespace>`. A pid means something only in one pid namespace of one boot: two
 * containers sharing a store through a volume, or two hosts sharing it over NFS, each have their
 * own pid 1234 (and often their own pid 1). The namespace key tells them apart, so a process
 * never judges another namespace's pid by its own process table: it asks the caller how to judge
 * it instead. A tag without a namespace (`<pid>`, written by earlier versions) counts as this
 * namespace's. The pid comes first, before a `-`, so that an earlier version sharing the store
 * still reads the pid of a lease, and does not take an ingest or temp file for one it may remove.
 */
import { createHash } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { readdir, stat, unlink } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";

/** The regular expression source of an owner tag, for callers that match whole file names. */
export const OWNER_TAG = "[1-9][0-9]{0,9}(?:-n[0-9a-f]{12})?";

export interface FileOwner {
  pid: number;
  /** The key of the pid namespace the pid belongs to; undefined for an old tag (this namespace). */
  namespace?: string;
}

let namespaceOfThisProcess: string | undefined;

/** This process's pid namespace on this boot, as 12 hex digits (the hostname where /proc is missing). */
export function ownNamespace(): string {
  namespaceOfThisProcess ??= createHash("sha256").update(namespaceIdentity()).digest("hex").slice(0, 12);
  return namespaceOfThisProcess;
}

function namespaceIdentity(): string {
  try {
    return `${readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim()}\n${readlinkSync("/proc/self/ns/pid")}`;
  } catch {
    return `host ${hostname()}`;
  }
}

/** The owner tag this process puts in the names of the files it makes. */
export function ownerTag(): string {
  return `${process.pid}-n${ownNamespace()}`;
}

export function parseOwnerTag(tag: string): FileOwner | undefined {
  const match = /^([1-9][0-9]{0,9})(?:-n([0-9a-f]{12}))?$/.exec(tag);
  if (match === null) return undefined;
  return match[2] === undefined ? { pid: Number(match[1]) } : { pid: Number(match[1]), namespace: match[2] };
}

const TAGGED_NAME = new RegExp(`^(${OWNER_TAG})-[0-9a-f]+$`);

/** The owner of a file named `<owner tag>-<random hex>` (an ingest file, a lease), or undefined for a name lading did not make. */
export function ownerOfTaggedName(name: string): FileOwner | undefined {
  const tag = TAGGED_NAME.exec(name)?.[1];
  return tag === undefined ? undefined : parseOwnerTag(tag);
}

export function inThisNamespace(owner: FileOwner): boolean {
  return owner.namespace === undefined || owner.namespace === ownNamespace();
}

export function isThisProcess(owner: FileOwner): boolean {
  return owner.pid === process.pid && inThisNamespace(owner);
}

/** Whether a process with this pid exists here (EPERM: it exists but belongs to someone else). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * When a process of this namespace started (clock ticks after boot: field 22 of /proc/<pid>/stat),
 * or undefined where /proc cannot tell. A pid that is reused has a new start time.
 */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}

/**
 * Whether the owner of a file is known to be gone: a pid of this namespace that no longer runs
 * (or runs another process than the one that started at `startedAt`, when known), or, for another
 * namespace's pid, what `foreignGone` says.
 */
export function ownerGone(owner: FileOwner, foreignGone: () => boolean, startedAt?: string): boolean {
  if (!inThisNamespace(owner)) return foreignGone();
  if (!processAlive(owner.pid)) return true;
  if (startedAt === undefined || startedAt === "") return false;
  const now = processStartTime(owner.pid);
  return now !== undefined && now !== startedAt;
}

/** Files that killed processes left: how many, and their bytes. */
export interface Leftovers {
  files: number;
  bytes: number;
}

export const NO_LEFTOVERS: Leftovers = { files: 0, bytes: 0 };

export const addLeftovers = (a: Leftovers, b: Leftovers): Leftovers => ({ files: a.files + b.files, bytes: a.bytes + b.bytes });

/**
 * A temp file of another namespace's process counts as left behind once it has not been written
 * for this long: temp files are written without pause until they are renamed into place.
 */
export const FOREIGN_TEMPORARY_STALE_MS = 60 * 60 * 1000;

/**
 * Removes (or with `remove: false` only counts) the temp files in `dir` that a process left and
 * can no longer finish: `ownerOf` gives the owner a file name carries (undefined: not such a file).
 */
export async function removeFilesOfDeadProcesses(dir: string, ownerOf: (name: string) => FileOwner | undefined, { remove = true }: { remove?: boolean } = {}): Promise<Leftovers> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const now = Date.now();
  let found = NO_LEFTOVERS;
  for (const name of names) {
    const owner = ownerOf(name);
    if (owner === undefined || isThisProcess(owner)) continue;
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => undefined);
    if (info === undefined || !ownerGone(owner, () => now - info.mtimeMs > FOREIGN_TEMPORARY_STALE_MS)) continue;
    if (!remove || (await unlink(file).then(() => true, () => false))) found = addLeftovers(found, { files: 1, bytes: info.size });
  }
  return found;
}
