import { usage } from "../core/errors.js";
import { formatPlatform, hostPlatform, normalizePlatform, parsePlatform, type Platform } from "../core/platform.js";

// containerd's platforms.Parse knows these for a one-part specifier (Go's GOOS and GOARCH lists).
const KNOWN_OS = new Set(["aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd", "plan9", "solaris", "windows", "zos"]);
const KNOWN_ARCH = new Set(["386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "ppc64", "ppc64le", "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32", "mips64p32le", "ppc", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm"]);

/**
 * The values of a repeatable --platform option; a malformed one is a usage error, as any bad option
 * is. As in docker, an operating system alone means it on the host's architecture (`linux`), and an
 * architecture alone means it on the host's operating system (`arm64`).
 */
export function platformsFromOption(values: readonly string[]): Platform[] {
  return values.map((value) => {
    try {
      return parsePlatform(withHostDefaults(value));
    } catch (error) {
      throw usage(`--platform: ${(error as Error).message}`);
    }
  });
}

function withHostDefaults(value: string): string {
  const part = value.trim().toLowerCase();
  if (part === "" || part.includes("/")) return value;
  const host = hostPlatform();
  if (KNOWN_OS.has(part)) return formatPlatform({ ...host, os: part });
  const alone = normalizePlatform({ os: host.os, architecture: part === "i386" ? "386" : part });
  if (KNOWN_ARCH.has(alone.architecture)) return formatPlatform(alone);
  throw new Error(`invalid platform ${JSON.stringify(value)}: unknown operating system or architecture; want os/arch[/variant]`);
}
