import { usage } from "../core/errors.js";
import { DEFAULT_LIMITS, type ReadLimits } from "../archive/read.js";

export interface LimitOptions {
  maxJsonSize?: string;
  maxLayerSize?: string;
  maxManifestJsonSize?: string;
}

const mebibytes = (bytes: number): string => `${bytes / 1024 ** 2} MiB`;

/** The size-limit options of every command that reads an archive (verify, load, convert), with their defaults. */
export const LIMIT_OPTIONS: readonly (readonly [string, string])[] = [
  ["--max-json-size <bytes>", `largest manifest, index or config to accept (default ${mebibytes(DEFAULT_LIMITS.maxJsonBytes)})`],
  ["--max-manifest-json-size <bytes>", `largest manifest.json to accept (default ${mebibytes(DEFAULT_LIMITS.maxManifestJsonBytes)})`],
  ["--max-layer-size <bytes>", `largest layer to accept, decompressed (default ${DEFAULT_LIMITS.maxLayerBytes / 1024 ** 3} GiB)`],
];

export function limitsFromOptions(options: LimitOptions): Partial<ReadLimits> {
  const limits: Partial<ReadLimits> = {};
  if (options.maxJsonSize !== undefined) limits.maxJsonBytes = parseBytes(options.maxJsonSize, "--max-json-size");
  if (options.maxManifestJsonSize !== undefined) limits.maxManifestJsonBytes = parseBytes(options.maxManifestJsonSize, "--max-manifest-json-size");
  if (options.maxLayerSize !== undefined) limits.maxLayerBytes = parseBytes(options.maxLayerSize, "--max-layer-size");
  return limits;
}

const UNITS: Record<string, number> = { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** `123`, `64k`, `20m`, `2g` (binary units). */
export function parseBytes(value: string, option: string): number {
  const match = /^(\d+)([kmgt]?)i?b?$/i.exec(value.trim());
  const unit = UNITS[(match?.[2] ?? "").toLowerCase()];
  if (!match || unit === undefined) throw usage(`${option}: invalid size ${JSON.stringify(value)}`);
  return Number(match[1]) * unit;
}
