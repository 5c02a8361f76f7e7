import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { credentialsFromConfig, dockerConfigCredentials, dockerConfigPath, normalizeRegistryKey } from "../../src/registry/credentials.js";

const b64 = (s: string): string => Buffer.from(s).toString("base64");
const dir = mkdtempSync(join(tmpdir(), "lading-creds-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function writeConfig(name: string, content: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof content === "string" ? content : JSON.stringify(content));
  return path;
}

describe("normalizeRegistryKey", () => {
  it("reduces URLs to hosts and Docker Hub's aliases to docker.io", () => {
    expect(normalizeRegistryKey("https://index.docker.io/v1/")).toBe("docker.io");
    expect(normalizeRegistryKey("registry-1.docker.io")).toBe("docker.io");
    expect(normalizeRegistryKey("http://127.0.0.1:5000/v2/")).toBe("127.0.0.1:5000");
    expect(normalizeRegistryKey("Registry.Example.com:443")).toBe("registry.example.com:443");
  });
});

describe("dockerConfigPath", () => {
  it("prefers $DOCKER_CONFIG, else ~/.docker", () => {
    expect(dockerConfigPath({ DOCKER_CONFIG: "/etc/dc" })).toBe("/etc/dc/config.json");
    expect(dockerConfigPath({})).toBe(join(homedir(), ".docker", "config.json"));
  });
});

describe("credentialsFromConfig", () => {
  const config = {
    auths: {
      "https://index.docker.io/v1/": { auth: b64("hubuser:hub:pass") },
      "registry.example.com": { username: "alice", password: "s3cret" },
      "http://127.0.0.1:5000": { auth: b64("lading:lading-pass") },
      "store.example.com": {},
    },
    credHelpers: { "helper.example.com": "ecr-login" },
    credsStore: "desktop",
  };

  it("decodes base64 user:password (the password may hold colons) for docker.io", () => {
    expect(credentialsFromConfig(config, "docker.io", "c.json")).toEqual({ username: "hubuser", password: "hub:pass" });
  });

  it("reads username/password fields and URL keys", () => {
    expect(credentialsFromConfig(config, "registry.example.com", "c.json")).toEqual({ username: "alice", password: "s3cret" });
    expect(credentialsFromConfig(config, "127.0.0.1:5000", "c.json")).toEqual({ username: "lading", password: "lading-pass" });
  });

  it("returns undefined for credential stores and helpers, empty entries and unknown hosts", () => {
    expect(credentialsFromConfig(config, "store.example.com", "c.json")).toBeUndefined();
    expect(credentialsFromConfig({ ...config, auths: { ...config.auths, "helper.example.com": { auth: b64("x:y") } } }, "helper.example.com", "c.json")).toBeUndefined();
    expect(credentialsFromConfig(config, "other.example.com", "c.json")).toBeUndefined();
    expect(credentialsFromConfig({}, "docker.io", "c.json")).toBeUndefined();
  });

  it("refuses an auth value that is not user:password", () => {
    expect(() => credentialsFromConfig({ auths: { "r.example.com": { auth: b64("nocolon") } } }, "r.example.com", "c.json")).toThrow(
      'c.json: auths["r.example.com"]: auth is not base64 of "user:password"',
    );
  });
});

describe("dockerConfigCredentials", () => {
  it("reads the given file at each lookup", async () => {
    const path = writeConfig("a.json", { auths: { "r.example.com": { auth: b64("u:p") } } });
    const lookup = dockerConfigCredentials(path);
    expect(await lookup("r.example.com")).toEqual({ username: "u", password: "p" });
    writeConfig("a.json", { auths: { "r.example.com": { auth: b64("u:changed") } } });
    expect(await lookup("r.example.com")).toEqual({ username: "u", password: "changed" });
  });

  it("reads $DOCKER_CONFIG/config.json by default", async () => {
    const configDir = mkdtempSync(join(dir, "dc-"));
    writeFileSync(join(configDir, "config.json"), JSON.stringify({ auths: { "127.0.0.1:5000": { username: "v", password: "w" } } }));
    const saved = process.env.DOCKER_CONFIG;
    process.env.DOCKER_CONFIG = configDir;
    try {
      expect(await dockerConfigCredentials()("127.0.0.1:5000")).toEqual({ username: "v", password: "w" });
    } finally {
      if (saved === undefined) delete process.env.DOCKER_CONFIG;
      else process.env.DOCKER_CONFIG = saved;
    }
  });

  it("treats a missing file as no credentials and a malformed one as an error naming it", async () => {
    expect(await dockerConfigCredentials(join(dir, "missing.json"))("docker.io")).toBeUndefined();
    const bad = writeConfig("bad.json", "{not json");
    await expect(dockerConfigCredentials(bad)("docker.io")).rejects.toMatchObject({ name: "LadingError", kind: "invalid", message: `${bad}: invalid JSON` });
  });
});
