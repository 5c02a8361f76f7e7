// lading push then lading pull, through the CLI, against a real docker-registry that wants basic
// authentication (htpasswd) and one that wants bearer tokens from a token server: credentials come
// from a DOCKER_CONFIG config.json as `docker login` writes it, and the digests survive both ways.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../src/cli/main.js";
import { requirePeers, startRegistry, TEST_REGISTRY_USER, type Registry } from "../support/peers.js";
import { startTokenRegistry, type TokenRegistry } from "../support/token-registry.js";
import { capturingTerminal, type CliResult } from "../support/archive-builder.js";
import { TESTDATA } from "./load-expectations.js";

const ready = requirePeers("docker-registry", "openssl");

// testdata/oci-archive.tar: one image whose manifest digest is kept byte for byte.
const APP_MANIFEST = "sha256:7df920a3e742a36a235539f438048f163a75d9dbaa47d098a0f611a6e5bb6b4e";


async function lading(...argv: string[]): Promise<CliResult> {
  const captured = capturingTerminal();
  const code = await main(["node", "lading", ...argv], captured.terminal);
  return { code, stdout: captured.stdout(), stderr: captured.stderr() };
}

function withDockerConfig(dir: string, host: string, auth: { username: string; password: string } | undefined): void {
  const auths = auth === undefined ? {} : { [host]: { auth: Buffer.from(`${auth.username}:${auth.password}`).toString("base64") } };
  writeFileSync(join(dir, "config.json"), JSON.stringify({ auths }));
}

describe.skipIf(!ready)("push and pull with registry authentication", () => {
  let dir: string;
  let basic: Registry;
  let bearer: TokenRegistry;
  const savedConfig = process.env.DOCKER_CONFIG;
  const user = { username: TEST_REGISTRY_USER.user, password: TEST_REGISTRY_USER.password };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "lading-pull-push-auth-"));
    [basic, bearer] = await Promise.all([startRegistry({ htpasswd: TEST_REGISTRY_USER.htpasswd }), startTokenRegistry()]);
    process.env.DOCKER_CONFIG = dir;
    const loaded = await lading("--root", join(dir, "source"), "load", "-q", "--name", "lading-testdata/app", "-i", join(TESTDATA, "oci-archive.tar"));
    expect(loaded.code).toBe(0);
  });
  afterAll(async () => {
    if (savedConfig === undefined) delete process.env.DOCKER_CONFIG;
    else process.env.DOCKER_CONFIG = savedConfig;
    await Promise.all([basic?.stop(), bearer?.stop()]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const kind of ["basic", "bearer"] as const) {
    it(`${kind}: refused without credentials, then pushed and pulled with config.json credentials, digest kept`, async () => {
      const host = kind === "basic" ? basic.url : bearer.host;
      const target = `${host}/team/app:1.0`;

      withDockerConfig(dir, host, undefined);
      const refused = await lading("--root", join(dir, "source"), "push", "-q", "lading-testdata/app:app", target);
      // The basic registry refuses the first HEAD, whose answer has no body; the token registry
      // refuses the upload's POST, and its body says why.
      const why = kind === "basic" ? "" : ": UNAUTHORIZED: authentication required";
      expect(refused).toEqual({ code: 1, stdout: "", stderr: `lading: error: registry ${host}: authentication failed (401) for team/app${why}\n` });

      withDockerConfig(dir, host, user);
      const pushed = await lading("--root", join(dir, "source"), "push", "lading-testdata/app:app", target);
      expect([pushed.code, pushed.stderr]).toEqual([0, ""]);
      expect(pushed.stdout).toContain(`1.0: digest: ${APP_MANIFEST} size: `);

      const pulledRoot = join(dir, `pulled-${kind}`);
      const pulled = await lading("--root", pulledRoot, "pull", "-q", target);
      expect(pulled).toEqual({ code: 0, stdout: `${target}\n`, stderr: "" });
      const inspected = await lading("--root", pulledRoot, "inspect", target);
      const [image] = JSON.parse(inspected.stdout) as [{ RepoTags: string[]; RepoDigests: string[] }];
      expect([image.RepoTags, image.RepoDigests]).toEqual([[target], [`${host}/team/app@${APP_MANIFEST}`]]);
    });
  }
});
