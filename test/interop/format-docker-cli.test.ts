// `lading images --format` and `lading inspect --format` against the real docker clients run on
// the same store through `lading serve`: the same bytes on stdout, the same error words.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openArchivePath } from "../../src/archive/source.js";
import { loadArchive } from "../../src/ops/load.js";
import { Store } from "../../src/store/store.js";
import { ensureBuilt, runLading } from "../support/archive-builder.js";
import { DEBIAN_DOCKER_CLIENT, LOCAL_DOCKER_CLIENT, makeTempDir, removeTree, requirePeers, run, type RunResult } from "../support/peers.js";
import { http } from "../server/http-client.js";

const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));
const fixtures = path.join(REPO_ROOT, "../shared/fixtures/archives");
const ARCHIVES = ["docker-save-single.tar", "docker-save-multi.tar", "oci-archive-multiplatform.tar"].map((name) => path.join(fixtures, name));
const haveFixtures = ARCHIVES.every((archive) => existsSync(archive));

/** Both sides print CreatedAt in the local zone: the same one. */
const ENV: NodeJS.ProcessEnv = { ...process.env, TZ: "UTC" };

let root = "";
let socket = "";
let server: ChildProcess | undefined;

beforeAll(async () => {
  if (!haveFixtures) return;
  ensureBuilt();
  root = makeTempDir("lading-format-");
  const store = await Store.open(root);
  for (const archive of ARCHIVES) await loadArchive(store, await openArchivePath(archive));
  socket = path.join(root, "docker.sock");
  server = spawn(process.execPath, [path.join(REPO_ROOT, "bin/lading.js"), "--root", root, "serve", "--socket", socket], { stdio: "ignore", env: ENV });
  const deadline = Date.now() + 15_000;
  while ((await http({ socketPath: socket }, "GET", "/_ping").catch(() => undefined))?.text !== "OK") {
    if (Date.now() > deadline) throw new Error("lading serve did not come up");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
});

afterAll(async () => {
  if (server && server.exitCode === null) {
    const exited = new Promise((resolve) => server!.once("exit", resolve));
    server.kill("SIGTERM");
    await exited;
  }
  if (root !== "") await removeTree(root);
});

const docker = (client: string, args: string[]): Promise<RunResult> => run(client, args, { env: { ...ENV, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(root, "docker-config") } });
const lading = async (args: string[]): Promise<RunResult> => {
  const result = await runLading(["--root", root, ...args], { env: ENV });
  return { code: result.code, stdout: result.stdout, stderr: result.stderr };
};

/** lading's error lines without the prefix it puts before docker's words. */
const dockerWords = (stderr: string): string => stderr.replace(/^(lading: error: |Error: )/gm, "");

async function expectSame(client: string, args: string[], options: { sortLines?: boolean } = {}): Promise<RunResult> {
  const [theirs, ours] = await Promise.all([docker(client, args), lading(args)]);
  const lines = (text: string): string => (options.sortLines ? text.split("\n").sort().join("\n") : text);
  expect({ code: ours.code, stdout: lines(ours.stdout), stderr: dockerWords(ours.stderr) }).toEqual({ code: theirs.code, stdout: lines(theirs.stdout), stderr: theirs.stderr });
  return ours;
}

/**
 * Image formats. Rows of one image in several repositories come in Go's map order from docker,
 * which changes from run to run: those outputs are compared line by line, sorted; the others byte
 * for byte (a repository's tags keep their order).
 */
const IMAGE_FORMATS: [format: string, args: string[], sortLines?: boolean][] = [
  ["{{.Repository}}:{{.Tag}}", [], true],
  ["{{json .}}", ["fixture/imported"]],
  ["table {{.Repository}}\\t{{.ID}}", ["fixture/*"]],
  ["table", ["fixture/*"]],
  ["table", ["--digests", "--no-trunc", "fixture/*"]],
  ["{{.ID}} {{.Digest}} {{.CreatedAt}} {{.Size}} {{.VirtualSize}} {{.SharedSize}} {{.UniqueSize}} {{.Containers}}", ["--no-trunc"], true],
  ["raw", ["fixture/imported"]],
  ["json", ["fixture/*"]],
  ['{{range $i, $p := split .Repository "/"}}{{if $i}}/{{end}}{{upper $p}}{{end}} {{printf "%-8.5s|" .Tag}}{{pad .Tag 1 1}}|{{truncate .ID 4}} {{title .Tag}} {{len .ID}}', [], true],
  ['{{if eq .Tag "latest"}}L{{else if eq .Tag "<none>"}}-{{else}}{{.Tag}}{{end}} {{println .CreatedSince}}', [], true],
  ["table {{.Tag}}\\t{{lower .Repository}}\\t{{json .Size}}", ["fixture/imported"]],
  ["{{.Nope}}", []],
];

/** Inspect formats; `{{json .Config}}` is the 20.10 client's: the newer one encodes Config as an OCI image config, with its empty fields left out. */
const INSPECT_FORMATS: [format: string, images: string[]][] = [
  ["{{.Id}}", ["fixture/imported:1.0", "fixture/derived-a:1.0"]],
  ["{{index .RepoTags 0}}", ["fixture/derived-b:1.0"]],
  ["{{range .RepoTags}}{{.}} {{end}}", ["fixture/imported:1.0"]],
  ["{{.Config.Labels}}", ["fixture/imported:1.0"]],
  ['{{if .Config.Env}}{{join .Config.Env ","}}{{else}}none{{end}}', ["fixture/imported:1.0", "fixture/derived-a:1.0"]],
  ['{{join .RepoTags ","}}', ["fixture/imported:1.0"]],
  ['{{printf "%s" .Id}} {{.Size}}', ["fixture/imported:1.0"]],
  ["{{.Os}}/{{.Architecture}}{{if .Variant}}/{{.Variant}}{{end}}", ["fixture/imported:1.0"]],
  ['{{.Config.Labels.nope}}|{{.Config.Volumes}}|{{.Config.Entrypoint}}|{{len .RootFS.Layers}}|{{index .Config.Labels "x"}}', ["fixture/imported:1.0"]],
  ["{{json .RootFS}} {{json .RepoDigests}}", ["fixture/imported:1.0"]],
  ["{{.Nope}}", ["fixture/imported:1.0"]],
  ["{{.Config.Healthcheck.Test}}", ["fixture/imported:1.0"]],
];

for (const [label, client] of [
  ["Debian docker 20.10", DEBIAN_DOCKER_CLIENT],
  ["newer docker", LOCAL_DOCKER_CLIENT],
] as const) {
  describe.skipIf(!haveFixtures || !requirePeers(client))(`--format as the ${label} client prints it`, () => {
    for (const [format, args, sortLines] of IMAGE_FORMATS) {
      // `--format json` came with docker 23; the 20.10 client prints the word as a template.
      if (format === "json" && client === DEBIAN_DOCKER_CLIENT) continue;
      it(`images --format '${format}' ${args.join(" ")}`, async () => {
        const ours = await expectSame(client, ["images", "--format", format, ...args], { sortLines: sortLines ?? false });
        if (format !== "{{.Nope}}") expect(ours.stdout).not.toBe("");
      });
    }

    for (const [format, images] of INSPECT_FORMATS) {
      it(`inspect --format '${format}' ${images.join(" ")}`, async () => {
        await expectSame(client, ["inspect", "--format", format, ...images]);
      });
    }

    it("a template that does not parse: docker's words", async () => {
      const [theirs, ours] = await Promise.all([docker(client, ["images", "--format", "{{.Repository"]), lading(["images", "--format", "{{.Repository"])]);
      expect(theirs.stderr).toBe("template parsing error: template: :1: unclosed action\n");
      expect(ours).toEqual({ code: 2, stdout: "", stderr: "lading: usage error: template parsing error: template: :1: unclosed action\n" });
    });
  });
}

describe.skipIf(!haveFixtures || !requirePeers(DEBIAN_DOCKER_CLIENT))("inspect --format '{{json .Config}}' as the 20.10 client prints it", () => {
  it("every key of docker's container config", async () => {
    const ours = await expectSame(DEBIAN_DOCKER_CLIENT, ["inspect", "-f", "{{json .Config}}", "fixture/imported:1.0"]);
    expect(ours.stdout).toContain('"Env":["FOO=bar"]');
  });
});
