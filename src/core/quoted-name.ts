/** Characters of a name an error message quotes; a tar entry name can be megabytes long (GNU long names). */
const QUOTED_CHARS = 200;

/** The first QUOTED_CHARS characters of a longer name, not splitting a surrogate pair. */
function startOf(name: string): string {
  const end = /[\ud800-\udbff]/.test(name.charAt(QUOTED_CHARS - 1)) ? QUOTED_CHARS - 1 : QUOTED_CHARS;
  return name.slice(0, end);
}

/** A name as an error message quotes it: JSON-quoted, and of a long one only its start and its length in UTF-8 bytes. */
export function quoteName(name: string): string {
  if (name.length <= QUOTED_CHARS) return JSON.stringify(name);
  return `${JSON.stringify(startOf(name))}… (${Buffer.byteLength(name)} bytes)`;
}

/** A name as an error names its subject: unquoted, shortened as quoteName shortens it. */
export function shortName(name: string): string {
  return shortened(name, name);
}

/**
 * `text` as a one-line message shows it, shortened as quoteName shortens a name: of a longer one
 * only its start, and the length in UTF-8 bytes of `measured` (what `text` shows, such as the
 * original of an escaped text).
 */
export function shortened(text: string, measured: string): string {
  if (text.length <= QUOTED_CHARS) return text;
  return `${startOf(text)}… (${Buffer.byteLength(measured)} bytes)`;
}
