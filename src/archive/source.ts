import { createReadStream } from "node:fs";
import { lstat, readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { invalid, usage } from "../core/errors.js";
import { openDecompressed, STREAM_HIGH_WATER_MARK, type Compression } from "../tar/compression.js";
import { resolveLinkTarget, safeEntryName } from "../tar/entry-name.js";
import { readTar } from "../tar/reader.js";
import type { ArchiveEntry } from "./scan.js";

export interface OpenedSource {
  compression: Compression;
  entries: AsyncIterable<ArchiveEntry>;
  /** Bytes read from the underlying file or stream so far (for progress). */
  bytesRead(): number;
  /** Total size when known (a file), for progress. */
  totalBytes: number | undefined;
}

/** Opens an archive given as a path: a tar file (maybe compressed), or an OCI layout directory. */
export async function openArchivePath(path: string): Promise<OpenedSource> {
  const info = await lstat(path).catch(() => undefined);
  if (!info) throw invalid(`${path}: no such file or directory`, path);
  if (info.isDirectory()) return openDirectory(path);
  const stream = createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK });
  return openTarStream(stream, info.size);
}

/** Opens a tar stream (maybe compressed), for a file or standard input. */
export async function openTarStream(input: Readable, totalBytes?: number): Promise<OpenedSource> {
  let read = 0;
  // Counted by iterating, never by a "data" listener: that would start the stream flowing before
  // its consumer is ready, and bytes would be lost.
  async function* counted(): AsyncGenerator<Buffer> {
    for await (const chunk of input) {
      read += (chunk as Buffer).length;
      yield chunk as Buffer;
    }
  }
  const counting = Readable.from(counted(), { objectMode: false, highWaterMark: STREAM_HIGH_WATER_MARK });
  const { compression, stream } = await openDecompressed(counting);
  return { compression, entries: tarEntries(stream), bytesRead: () => read, totalBytes };
}

async function* tarEntries(stream: Readable): AsyncGenerator<ArchiveEntry> {
  for await (const entry of readTar(stream)) {
    const archiveEntry: ArchiveEntry = { name: entry.name, type: entry.type, size: entry.size, body: entry.body };
    if (entry.type === "symlink") archiveEntry.resolvedTarget = resolveLinkTarget(entry.name, entry.linkTarget ?? "");
    if (entry.type === "hardlink") archiveEntry.resolvedTarget = hardLinkTarget(entry.name, entry.linkTarget ?? "");
    yield archiveEntry;
  }
}

/** Hard link targets in a tar are names from the archive root. */
function hardLinkTarget(name: string, target: string): string {
  try {
    return safeEntryName(target);
  } catch {
    throw invalid(`hard link ${JSON.stringify(name)} points outside the archive (${JSON.stringify(target)})`, name);
  }
}

const METADATA_FIRST = ["oci-layout", "index.json", "manifest.json"];

/** An OCI layout directory, read as if it were a tar with its metadata first. */
async function openDirectory(root: string): Promise<OpenedSource> {
  const names = await walk(root, "");
  names.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  let finishedBytes = 0;
  let current: { bytesRead: number } | undefined;
  async function* entries(): AsyncGenerator<ArchiveEntry> {
    for (const name of names) {
      const path = join(root, name);
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        const target = await readlink(path);
        yield { name, type: "symlink", size: 0, resolvedTarget: resolveLinkTarget(name, target), body: emptyBody() };
      } else if (info.isFile()) {
        const body = createReadStream(path, { highWaterMark: STREAM_HIGH_WATER_MARK });
        current = body;
        yield { name, type: "file", size: info.size, body };
        finishedBytes += body.bytesRead;
        current = undefined;
      } else {
        yield { name, type: "other", size: 0, body: emptyBody() };
      }
    }
  }
  return { compression: "none", entries: entries(), bytesRead: () => finishedBytes + (current?.bytesRead ?? 0), totalBytes: undefined };
}

function rank(name: string): number {
  const index = METADATA_FIRST.indexOf(name);
  return index === -1 ? METADATA_FIRST.length : index;
}

async function walk(root: string, prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const dirent of await readdir(join(root, prefix), { withFileTypes: true })) {
    const name = prefix ? `${prefix}/${dirent.name}` : dirent.name;
    safeEntryName(name);
    if (dirent.isDirectory()) found.push(...(await walk(root, name)));
    else found.push(name);
  }
  return found;
}

function emptyBody(): Readable {
  return Readable.from([]);
}

export function refuseTerminalInput(stdin: NodeJS.ReadStream): void {
  if (stdin.isTTY) throw usage("requested load from stdin, but stdin is empty or a terminal; use -i FILE or redirect");
}
