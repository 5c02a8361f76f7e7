/**
 * What an entry's header block and the extended headers before it (PAX records, GNU long names)
 * say about it. The archive reader and the layer checker both take an entry's name and the size
 * of the data that follows it from here, so that they frame a tar the same way, and the way GNU
 * tar and Go's archive/tar (docker, containerd) do: a PAX `size` replaces the header's.
 */
import { cString, headerName, paxDecimal } from "./header-fields.js";
import { quoteName as quote } from "../core/quoted-name.js";

/** The extended headers read since the last entry. */
export interface ExtendedHeaders {
  pax?: Record<string, string>;
  longName?: string;
  longLink?: string;
}

export interface EntryFields {
  /** The header's name, replaced by a GNU long name, then a PAX path, then (a sparse file) GNU.sparse.name. */
  name: string;
  linkname: string | null;
  /** Bytes of data after the header: a PAX size over the header's size field. */
  size: number;
  /** How the entry is a GNU sparse file, when it is one (its data is a map of holes, not the file). */
  sparse?: string;
  /**
   * Every name an extractor may give the entry, `name` first: extractors disagree on which of
   * them wins (Go takes a GNU long name over a PAX path, GNU tar and Python's tarfile take
   * GNU.sparse.name even outside a sparse file), so a check of names must check them all.
   */
  names: string[];
  /** Every link target an extractor may read, `linkname` first. */
  links: string[];
  /** Why the size cannot be read, naming the entry (size is then NaN). */
  problem?: string;
}

const GNU_SPARSE_TYPE = 0x53; // 'S'

/** GNU tar's PAX sparse formats: 1.0 says its version, 0.1 writes a map, 0.0 offsets and sizes. */
function paxSparseFormat(pax: Record<string, string> | undefined): string | undefined {
  if (pax === undefined || !Object.keys(pax).some((key) => key.startsWith("GNU.sparse."))) return undefined;
  const version = pax["GNU.sparse.major"] !== undefined ? `${pax["GNU.sparse.major"]}.${pax["GNU.sparse.minor"] ?? "0"}` : pax["GNU.sparse.map"] !== undefined ? "0.1" : "0.0";
  return `GNU tar's PAX sparse format ${version}`;
}

/** headerSize is the header's size field as the caller reads it (NaN when unreadable). */
export function entryFields(block: Buffer, headerSize: number, extended: ExtendedHeaders): EntryFields {
  const { pax, longName, longLink } = extended;
  const headerLink = block[157] === 0 ? null : cString(block, 157, 100);
  const sparse = block[156] === GNU_SPARSE_TYPE ? "GNU tar's type 'S'" : paxSparseFormat(pax);
  // An empty PAX record leaves the field as it was, as in Go's archive/tar.
  const sparseName = pax?.["GNU.sparse.name"] || undefined;
  const paxPath = pax?.path || undefined;
  const paxLink = pax?.linkpath || undefined;
  // GNU tar's PAX sparse formats 0.1 and 1.0 hide the real name in GNU.sparse.name, behind a made-up one.
  const name = (sparse !== undefined ? sparseName : undefined) ?? paxPath ?? longName ?? headerName(block);
  const linkname = paxLink ?? longLink ?? headerLink;
  const fields: EntryFields = {
    name,
    linkname,
    size: headerSize,
    names: distinct([name, headerName(block), longName, paxPath, sparseName]),
    links: distinct([linkname, headerLink, longLink, paxLink]),
  };
  if (sparse !== undefined) fields.sparse = sparse;
  // Go's archive/tar refuses a negative size field even when a PAX size replaces it.
  if (headerSize < 0) return refused(fields, `negative size field (${headerSize}) in entry ${quote(name)}`);
  if (pax?.size) {
    const paxSize = paxDecimal(pax.size);
    if (paxSize === undefined) return refused(fields, `PAX size record ${quote(pax.size)} of entry ${quote(name)} is not a decimal number`);
    fields.size = paxSize;
  }
  return fields;
}

function refused(fields: EntryFields, problem: string): EntryFields {
  return { ...fields, size: NaN, problem };
}

function distinct(values: (string | null | undefined)[]): string[] {
  return [...new Set(values.filter((value): value is string => typeof value === "string"))];
}
