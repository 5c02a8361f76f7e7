import { invalid } from "./errors.js";

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
  "os.version"?: string;
  "os.features"?: string[];
}

const NODE_ARCH_TO_OCI: Record<string, string> = {
  x64: "amd64",
  arm64: "arm64",
  arm: "arm",
  ia32: "386",
  ppc64: "ppc64le",
  s390x: "s390x",
  riscv64: "riscv64",
  mips64el: "mips64le",
  loong64: "loong64",
};

const COMPONENT = /^[a-z0-9._-]+$/i;

/** Parses `os/arch[/variant]` as docker's `--platform` does (lowercased). */
export function parsePlatform(value: string): Platform {
  const parts = value.trim().toLowerCase().split("/");
  if (parts.length < 2 || parts.length > 3 || parts.some((part) => !COMPONENT.test(part))) {
    throw invalid(`invalid platform ${JSON.stringify(value)}: want os/arch[/variant]`, "--platform");
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return normalizePlatform({ os, architecture, ...(variant === undefined ? {} : { variant }) });
}

/** containerd's normalisation: aliases for architectures and default variants. */
export function normalizePlatform(platform: Platform): Platform {
  let { architecture, variant } = platform;
  if (architecture === "x86_64" || architecture === "x86-64") architecture = "amd64";
  if (architecture === "aarch64") architecture = "arm64";
  if (architecture === "arm64" && variant === "v8") variant = undefined;
  if (architecture === "armhf") [architecture, variant] = ["arm", "v7"];
  if (architecture === "armel") [architecture, variant] = ["arm", "v6"];
  if (architecture === "arm" && variant === undefined) variant = "v7";
  if (architecture === "amd64" && variant === "v1") variant = undefined;
  const normalized: Platform = { os: platform.os.toLowerCase(), architecture };
  if (variant !== undefined) normalized.variant = variant;
  return normalized;
}

export function formatPlatform(platform: Platform): string {
  const base = `${platform.os}/${platform.architecture}`;
  return platform.variant ? `${base}/${platform.variant}` : base;
}

/** True when `candidate` (from an index or config) satisfies the `wanted` platform. */
export function platformMatches(wanted: Platform, candidate: Platform): boolean {
  const a = normalizePlatform(wanted);
  const b = normalizePlatform(candidate);
  if (a.os !== b.os || a.architecture !== b.architecture) return false;
  return a.variant === undefined || a.variant === b.variant;
}

export function hostPlatform(): Platform {
  const architecture = NODE_ARCH_TO_OCI[process.arch] ?? process.arch;
  return normalizePlatform({ os: process.platform === "win32" ? "windows" : process.platform, architecture });
}
