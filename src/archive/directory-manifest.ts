import { constants } from "node:fs";
import { open } from "node:fs/promises";
import { join } from "node:path";
import { invalid, LadingError } from "../core/errors.js";
import { isForeignLayerType } from "../core/media-types.js";
import type { DockerManifestItem } from "../core/schemas.js";
import { safeEntryName } from "../tar/entry-name.js";
import { isImageManifest, parseDockerManifestJson } from "./image-manifest-shape.js";
import { isAbsentPath } from "./scan.js";

/**
 * The manifest.json at the top of a directory, read and checked before any other file of it: it
 * is small (--max-manifest-json-size), and it alone says which files the directory's images use.
 * A directory it cannot describe (a containers/image dir: layout, a document that is no docker
 * save list, a path to no file) is refused at once, before any layer is read.
 */
export interface DirectoryManifestJson {
  bytes: Buffer;
  items: DockerManifestItem[];
}

/** The names a directory holds, from its walk: files, and links (whose targets are checked when the scan reaches them). */
export interface WalkedNames {
  files: ReadonlySet<string>;
  links: ReadonlySet<string>;
}

/** Reads and parses `root`/manifest.json (a regular file), refusing in the words a tar of the same files gets, after the directory's name. */
export async function readDirectoryManifestJson(root: string, maxBytes: number): Promise<DirectoryManifestJson> {
  const bytes = await readBounded(join(root, "manifest.json"), maxBytes, root);
  try {
    return { bytes, items: parseDockerManifestJson(jsonDocument(bytes)) };
  } catch (error) {
    const refused = refusal(root, error);
    if (isImageManifest(bytes) && refused instanceof LadingError) dirLayoutRefusals.add(refused);
    throw refused;
  }
}

const dirLayoutRefusals = new WeakSet<LadingError>();

/** Whether `error` refuses a containers/image dir: layout, which reading on cannot make an archive of. */
export function isDirLayoutRefusal(error: unknown): boolean {
  return error instanceof LadingError && dirLayoutRefusals.has(error);
}

/**
 * The files manifest.json names (configs and layers), each of which must be there: a path to
 * nothing is refused in the words the scan of a tar uses (lookupFile), after the directory's name.
 * A layer whose item gives foreign layers in LayerSources may be absent: which ones only the
 * config's diff IDs tell, so those are left to the scan.
 */
export function namedByManifestJson(root: string, items: readonly DockerManifestItem[], walked: WalkedNames): Set<string> {
  const named = new Set<string>();
  const need = (path: string, field: string, mayBeAbsent: boolean): void => {
    let name: string;
    try {
      name = safeEntryName(path);
    } catch (error) {
      throw invalid(`${root}: ${field}: unsafe path ${JSON.stringify(path)}: ${(error as Error).message}`, root);
    }
    if (!mayBeAbsent && isAbsentPath(walked, name)) throw invalid(`${root}: ${field}: ${JSON.stringify(path)} is not in the archive`, root);
    named.add(name);
  };
  items.forEach((item, position) => {
    const field = `manifest.json[${position}]`;
    need(item.Config, `${field}.Config`, false);
    const foreign = Object.values(item.LayerSources ?? {}).some((descriptor) => isForeignLayerType(descriptor.mediaType));
    item.Layers.forEach((path, index) => need(path, `${field}.Layers[${index}]`, foreign));
  });
  return named;
}


/** What the probe keeps of a file as JSON, as jsonBytes reads it: a document that opens with `{` or `[`. */
function jsonDocument(bytes: Buffer): Buffer {
  const first = bytes.find((byte) => byte !== 0x20 && byte !== 0x0a && byte !== 0x0d && byte !== 0x09);
  if (first !== 0x7b && first !== 0x5b) throw invalid("manifest.json: manifest.json is not a JSON object or array", "manifest.json");
  return bytes;
}

/** The file's bytes, refused unread past `maxBytes` (as jsonBytes refuses them), or once it has grown past them; a link put in its place is not followed. */
async function readBounded(path: string, maxBytes: number, root: string): Promise<Buffer> {
  const tooLarge = (): LadingError => invalid(`${root}: manifest.json: manifest.json is larger than the JSON size cap of ${maxBytes} bytes`, root);
  const handle = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    if ((await handle.stat()).size > maxBytes) throw tooLarge();
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, length);
      if (bytesRead === 0) return Buffer.concat(chunks, length);
      length += bytesRead;
      if (length > maxBytes) throw tooLarge();
      chunks.push(chunk.subarray(0, bytesRead));
    }
  } finally {
    await handle.close();
  }
}

function refusal(root: string, error: unknown): unknown {
  return error instanceof LadingError ? invalid(`${root}: ${error.message}`, root) : error;
}
