/**
 * How dockerd 20.10 shows an image config's fields in `docker image inspect`, for both lading's
 * `inspect` and `lading serve`.
 *
 * The container config (`Config` and `ContainerConfig`): the stored object decoded into moby's
 * container.Config struct and encoded again. Every key of that struct is present, in its order,
 * with Go's zero value where the image has none (OCI tools store only the keys they set); its
 * `omitempty` keys appear only when set; keys the struct does not have are dropped. Its maps
 * (`ExposedPorts`, `Volumes`, `Labels`) are written as Go writes maps, keys sorted; the values of
 * the first two are Go's empty structs, `{}`. Checked against dockerd 20.10.24.
 */

import { goMap } from "./go-json.js";
import { isJsonObject } from "./json.js";
import { goTimeText } from "./rfc3339.js";

/** The keys Go always writes, in struct order, with their zero values. */
const ALWAYS: readonly (readonly [string, unknown])[] = [
  ["Hostname", ""],
  ["Domainname", ""],
  ["User", ""],
  ["AttachStdin", false],
  ["AttachStdout", false],
  ["AttachStderr", false],
  ["Tty", false],
  ["OpenStdin", false],
  ["StdinOnce", false],
  ["Env", null],
  ["Cmd", null],
  ["Image", ""],
  ["Volumes", null],
  ["WorkingDir", ""],
  ["Entrypoint", null],
  ["OnBuild", null],
  ["Labels", null],
];

/** The `omitempty` keys, each with the key it follows in struct order. */
const OMITTED_WHEN_EMPTY: readonly (readonly [string, string])[] = [
  ["ExposedPorts", "AttachStderr"],
  ["Healthcheck", "Cmd"],
  ["ArgsEscaped", "Healthcheck"],
  ["NetworkDisabled", "Entrypoint"],
  ["MacAddress", "NetworkDisabled"],
  ["StopSignal", "Labels"],
  ["StopTimeout", "StopSignal"],
  ["Shell", "StopTimeout"],
];

const STRUCT_ORDER: readonly string[] = (() => {
  const order = ALWAYS.map(([key]) => key);
  for (const [key, after] of OMITTED_WHEN_EMPTY) order.splice(order.indexOf(after) + 1, 0, key);
  return order;
})();

/** moby's strslice.StrSlice keys: a JSON string decodes as a list of that one string. */
const STRING_SLICES = new Set(["Cmd", "Entrypoint", "Shell"]);

const ZERO = new Map<string, unknown>(ALWAYS);
const OMITTABLE = new Set(OMITTED_WHEN_EMPTY.map(([key]) => key));

/** Go's zero time, which dockerd shows as `Created` for an image whose config has none. */
export const ZERO_TIME_TEXT = "0001-01-01T00:00:00Z";

/**
 * Go's zero time in seconds since the epoch: /images/json's `Created` of an image without one,
 * which the docker CLI shows as CREATED `N/A`.
 */
export const ZERO_TIME_SECONDS = -62_135_596_800;

/**
 * `Created` as dockerd shows it: the config's time as Go writes a time.Time it read (RFC 3339 with
 * at most nine fraction digits, trailing zeros dropped, a zero offset as `Z`), Go's zero time
 * without one.
 */
export function inspectCreated(created: string | undefined): string {
  if (created === undefined) return ZERO_TIME_TEXT;
  return goTimeText(created) ?? created;
}

/**
 * A top-level string of the config that dockerd decodes into a string field (`container`,
 * `docker_version`, `os.version`): "" when absent or not a string.
 */
export function configString(config: Record<string, unknown>, key: string): string {
  const value = config[key];
  return typeof value === "string" ? value : "";
}

/** `Config`: null when the image has none, as dockerd's (a pointer in its image struct). */
export function inspectConfig(stored: unknown): Record<string, unknown> | null {
  return isJsonObject(stored) ? fullContainerConfig(stored) : null;
}

/** `ContainerConfig`: always an object (a value in dockerd's image struct). */
export function inspectContainerConfig(stored: unknown): Record<string, unknown> {
  return fullContainerConfig(isJsonObject(stored) ? stored : {});
}

function fullContainerConfig(stored: Record<string, unknown>): Record<string, unknown> {
  const shown: Record<string, unknown> = {};
  for (const key of STRUCT_ORDER) {
    const value = asGoValue(key, STRING_SLICES.has(key) && typeof stored[key] === "string" ? [stored[key]] : stored[key]);
    if (OMITTABLE.has(key)) {
      if (!isEmpty(value) && !(key === "ExposedPorts" && isJsonObject(value) && Object.keys(value).length === 0)) shown[key] = value;
    } else shown[key] = value === undefined ? ZERO.get(key) : value;
  }
  return shown;
}

/** The value as Go decodes it into the struct's field: a map's keys sorted, a set's values `{}`. */
function asGoValue(key: string, value: unknown): unknown {
  if (!isJsonObject(value)) return value;
  if (key === "Labels") return goMap(value);
  if (key === "ExposedPorts" || key === "Volumes") return goMap(Object.fromEntries(Object.keys(value).map((name) => [name, {}])));
  return value;
}

/** Go's `omitempty` for these keys: false, "", null, an empty array (and an empty ExposedPorts map, above). A pointer (StopTimeout: 0, Healthcheck: {}) is empty only when null. */
function isEmpty(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === "") return true;
  if (Array.isArray(value)) return value.length === 0;
  return false;
}
