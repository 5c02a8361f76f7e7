import type { Command } from "commander";
import { platformsFromOption } from "./platform-option.js";
import { formatReference, parseReference } from "../core/reference.js";
import { usage } from "../core/errors.js";
import type { PulledImage } from "../ops/pull.js";
import type { PushResult } from "../ops/push.js";
import type { RegistryClientFactory } from "../ops/registry-access.js";
import { RegistryClient } from "../registry/client.js";
import { printJson, printLine, shortId, type Terminal } from "./output.js";
import { withProgress } from "./progress.js";
import { openStore } from "./store-option.js";

interface PullFlags {
  platform: string[];
  allPlatforms?: boolean;
  insecure?: boolean;
  skipDiffIdCheck?: boolean;
  quiet?: boolean;
  json?: boolean;
}

interface PushFlags {
  allPlatforms?: boolean;
  insecure?: boolean;
  quiet?: boolean;
  json?: boolean;
}

const PARALLEL_TRANSFERS = 4;

/** `pull` and `push`: images between the store and an OCI distribution registry. */
export function registerRegistryCommands(program: Command, terminal: Terminal): void {
  program
    .command("pull")
    .description("pull images from a registry into the store: exact bytes, verified, all or nothing (by default the host platform of an index)")
    .argument("<reference...>", "name[:tag] or name@digest, e.g. registry.example.com/team/app:1.0")
    .option("--platform <os/arch[/variant]>", "pull this platform of a multi-platform image (repeatable)", (value: string, all: string[]) => [...all, value], [])
    .option("--all-platforms", "pull every platform of a multi-platform image, so that a later push recreates the index")
    .option("--insecure", "allow plain HTTP (always allowed for loopback addresses)")
    .option(
      "--skip-diff-id-check",
      "do not decompress compressed layers to check them against the config's diff IDs (blob digests are still checked, as skopeo does)",
    )
    .option("-q, --quiet", "print only the pulled references (with --json, the JSON document only)")
    .option("--json", "print one JSON document of what was pulled")
    .action(async (references: string[], flags: PullFlags, command: Command) => {
      if (flags.allPlatforms && flags.platform.length > 0) throw usage("--platform and --all-platforms conflict: --all-platforms pulls every platform, --platform only those named");
      const platforms = platformsFromOption(flags.platform);
      const store = await openStore(command);
      const progress = { done: 0, total: 0 };
      // Imported here: a pull needs none of push's modules, and the reverse.
      const { pullImages } = await import("../ops/pull.js");
      const result = await withProgress(
        terminal,
        Boolean(flags.quiet || flags.json),
        "Pulling",
        () => progress,
        () =>
          pullImages(store, references, {
            platforms,
            allPlatforms: Boolean(flags.allPlatforms),
            client: clientFactory(Boolean(flags.insecure)),
            checkCompressedLayers: !flags.skipDiffIdCheck,
            parallel: PARALLEL_TRANSFERS,
            onProgress: (now) => Object.assign(progress, now),
          }),
      );
      if (flags.json) {
        printJson(terminal.stdout, result);
        return;
      }
      for (const image of result.images) reportPull(terminal, image, Boolean(flags.quiet));
    });

  program
    .command("push")
    .description("push an image from the store to a registry with its exact bytes; the registry's digest must be the local one")
    .argument("<image>", "name[:tag], name@digest, an ID or an ID prefix")
    .argument("[target]", "the reference to push to (default: IMAGE itself)")
    .option("--all-platforms", "refuse a sparse image instead of relying on the registry to hold the platforms the store lacks")
    .option("--insecure", "allow plain HTTP (always allowed for loopback addresses)")
    .option("-q, --quiet", "print only the pushed digest line")
    .option("--json", "print one JSON document of what was pushed")
    .action(async (image: string, target: string | undefined, flags: PushFlags, command: Command) => {
      const store = await openStore(command);
      const progress = { done: 0, total: 0 };
      const { pushImage } = await import("../ops/push.js");
      const result = await withProgress(
        terminal,
        Boolean(flags.quiet || flags.json),
        "Pushing",
        () => progress,
        () =>
          pushImage(store, image, target, {
            allPlatforms: Boolean(flags.allPlatforms),
            client: clientFactory(Boolean(flags.insecure)),
            parallel: PARALLEL_TRANSFERS,
            onProgress: (now) => Object.assign(progress, now),
          }),
      );
      if (flags.json) {
        printJson(terminal.stdout, result);
        return;
      }
      reportPush(terminal, result, Boolean(flags.quiet));
    });
}

function clientFactory(insecure: boolean): RegistryClientFactory {
  return (host) => new RegistryClient(host, { insecure });
}

/** docker pull's lines: what was pulled from where, each layer, the digest and the status. */
function reportPull(terminal: Terminal, image: PulledImage, quiet: boolean): void {
  const familiar = formatReference(parseReference(image.reference), "familiar");
  if (!quiet) {
    printLine(terminal.stdout, `${image.tagOrDigest}: Pulling from ${image.repository}`);
    for (const layer of image.layers) printLine(terminal.stdout, `${shortId(layer.digest)}: ${layer.status}`);
    printLine(terminal.stdout, `Digest: ${image.id}`);
    printLine(terminal.stdout, image.upToDate ? `Status: Image is up to date for ${familiar}` : `Status: Downloaded newer image for ${familiar}`);
  }
  printLine(terminal.stdout, image.reference);
  if (!quiet && image.absent.length > 0) {
    printLine(terminal.stderr, `note: ${familiar} is sparse: ${image.absent.join(", ")} not pulled (use --all-platforms to pull every platform)`);
  }
}

/** docker push's lines: the repository, each layer, then `<tag>: digest: <digest> size: <bytes>`. */
function reportPush(terminal: Terminal, result: PushResult, quiet: boolean): void {
  if (!quiet) {
    printLine(terminal.stdout, `The push refers to repository [${result.repository}]`);
    for (const layer of result.layers) printLine(terminal.stdout, `${shortId(layer.digest)}: ${layer.status}`);
  }
  const prefix = result.tag === undefined ? "" : `${result.tag}: `;
  printLine(terminal.stdout, `${prefix}digest: ${result.digest} size: ${result.size}`);
  if (!quiet && result.borrowed.length > 0) {
    printLine(terminal.stderr, `note: ${result.reference} is sparse: the registry already held ${result.borrowed.join(", ")}`);
  }
}
