/**
 * Credentials from the docker CLI's config.json (`docker login` writes them there), so its users
 * need nothing new. Only inline `auths` entries are read; credential stores and helpers are
 * external programs lading does not run.
 */
import { readFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { LadingError } from "../core/errors.js";
import type { Credentials, CredentialsProvider } from "./auth.js";

interface AuthEntry {
  auth?: unknown;
  username?: unknown;
  password?: unknown;
}

const DOCKER_HUB_KEYS = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);

/** The config file docker itself would read: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. */
export function dockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.DOCKER_CONFIG !== undefined && env.DOCKER_CONFIG !== "" ? env.DOCKER_CONFIG : join(homedir(), ".docker");
  return join(dir, "config.json");
}

/** `auths` keys are hosts or URLs (`https://index.docker.io/v1/`); both reduce to a host, Docker Hub's aliases to docker.io. */
export function normalizeRegistryKey(key: string): string {
  let host = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "");
  const slash = host.indexOf("/");
  if (slash !== -1) host = host.slice(0, slash);
  host = host.toLowerCase();
  return DOCKER_HUB_KEYS.has(host) ? "docker.io" : host;
}

/** Credentials of one `auths` entry: base64 "user:pass" in `auth`, else `username`/`password`. */
export function entryCredentials(entry: AuthEntry, where: string): Credentials | undefined {
  if (typeof entry.auth === "string" && entry.auth !== "") {
    const decoded = Buffer.from(entry.auth, "base64").toString("utf8");
    const colon = decoded.indexOf(":");
    if (colon <= 0) throw new LadingError("invalid", `${where}: auth is not base64 of "user:password"`, { subject: where });
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof entry.username === "string" && entry.username !== "" && typeof entry.password === "string") {
    return { username: entry.username, password: entry.password };
  }
  return undefined;
}

/** Looks `registryHost` up in a parsed config.json document. */
export function credentialsFromConfig(config: unknown, registryHost: string, configPath: string): Credentials | undefined {
  if (typeof config !== "object" || config === null) throw new LadingError("invalid", `${configPath}: not a JSON object`, { subject: configPath });
  const wanted = normalizeRegistryKey(registryHost);
  const { auths, credHelpers } = config as { auths?: unknown; credHelpers?: unknown };
  if (typeof credHelpers === "object" && credHelpers !== null && wanted in credHelpers) return undefined;
  if (typeof auths !== "object" || auths === null) return undefined;
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    if (normalizeRegistryKey(key) !== wanted || typeof entry !== "object" || entry === null) continue;
    const found = entryCredentials(entry as AuthEntry, `${configPath}: auths[${JSON.stringify(key)}]`);
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * A credentials provider reading docker's config.json at each lookup. A missing file means no
 * credentials; an unreadable or malformed one is an error naming the file.
 */
export function dockerConfigCredentials(configPath?: string): CredentialsProvider {
  return async (registryHost) => {
    const path = configPath ?? dockerConfigPath();
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
      throw new LadingError("io", `${path}: ${error instanceof Error ? error.message : String(error)}`, { subject: path });
    }
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch {
      throw new LadingError("invalid", `${path}: invalid JSON`, { subject: path });
    }
    return credentialsFromConfig(config, registryHost, path);
  };
}
