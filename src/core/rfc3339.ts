/**
 * Times in image configs, read as the Go peers read them (docker, containerd, podman and skopeo
 * all decode `created` into a time.Time): RFC 3339 as Go's strict parser takes it, with "T" and
 * "Z" in capitals, any number of fraction digits, and every field in range. Date.parse alone
 * would take other shapes, and roll `02-30` or `24:00` over to the next day.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(?:Z|([+-])(\d{2}):(\d{2}))$/;

/** Milliseconds since the epoch, or undefined for text that is no RFC 3339 time. */
export function parseRfc3339(text: string): number | undefined {
  const match = RFC3339.exec(text);
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const [, , , , , , , fraction = "", sign, offsetHours = "0", offsetMinutes = "0"] = match;
  if (hour > 23 || minute > 59 || second > 59 || Number(offsetHours) > 23 || Number(offsetMinutes) > 59) return undefined;
  const time = new Date(0);
  time.setUTCFullYear(year, month - 1, day); // not Date.UTC, which reads years 0-99 as 1900-1999
  if (time.getUTCFullYear() !== year || time.getUTCMonth() !== month - 1 || time.getUTCDate() !== day) return undefined;
  const offset = (sign === "-" ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes));
  return time.getTime() + ((hour * 60 + minute - offset) * 60 + second) * 1000 + Math.floor(Number(`0${fraction}`) * 1000);
}

export function isRfc3339Time(text: string): boolean {
  return parseRfc3339(text) !== undefined;
}

/**
 * `text` as Go writes the time.Time it parses from it (time.RFC3339Nano, which encoding/json
 * uses): the same wall clock and offset, at most nine fraction digits (Go drops the rest) with
 * trailing zeros dropped, and a zero offset (`+00:00`) as `Z`. Undefined for text that is no
 * RFC 3339 time.
 */
export function goTimeText(text: string): string | undefined {
  const match = RFC3339.exec(text);
  if (!match || parseRfc3339(text) === undefined) return undefined;
  const [, year, month, day, hour, minute, second, fraction = "", sign, offsetHours, offsetMinutes] = match;
  const digits = fraction.slice(1, 10).replace(/0+$/, "");
  const zone = sign === undefined || (offsetHours === "00" && offsetMinutes === "00") ? "Z" : `${sign}${offsetHours}:${offsetMinutes}`;
  return `${year}-${month}-${day}T${hour}:${minute}:${second}${digits === "" ? "" : `.${digits}`}${zone}`;
}
