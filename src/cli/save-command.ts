import type { Command } from "commander";
import { usage } from "../core/errors.js";
import { MediaType } from "../core/media-types.js";
import { parseReference } from "../core/reference.js";
import { platformsFromOption } from "./platform-option.js";
import { mtimeFromEnvironment, saveImages, saveToFile, type SaveOptions, type SaveResult, type SavedImage } from "../ops/save.js";
import type { LayoutFormat } from "../archive/write-layout.js";
import { printJson, printLine, type Terminal } from "./output.js";
import { withProgress } from "./progress.js";
import { refuseEmptyOutputPath } from "./path-arguments.js";
import { openStoreToRead } from "./store-option.js";
import { registerConvert } from "./convert-command.js";

interface SaveFlags {
  output?: string;
  format: string;
  platform: string[];
  compress?: string;
  quiet?: boolean;
  json?: boolean;
}

export const TERMINAL_REFUSAL = "cowardly refusing to save to a terminal. Use the -o flag or redirect";

/** `save` and `convert`: the commands that write archives. */
export function registerArchiveWriters(program: Command, terminal: Terminal): void {
  registerSave(program, terminal);
  registerConvert(program, terminal);
}

function registerSave(program: Command, terminal: Terminal): void {
  program
    .command("save")
    .description("save images from the store to an archive (file or standard output): deterministic, digests kept")
    .argument("<image...>", "names, name:tag, name@digest, IDs or ID prefixes; a repository name alone saves all its tags")
    .option("-o, --output <file>", "write to a file instead of standard output (- for standard output)")
    .option("--format <format>", "docker (OCI layout plus manifest.json, every loader) or oci (pure OCI layout)", "docker")
    .option("--platform <os/arch[/variant]>", "save only this platform of a multi-platform image (repeatable)", (value: string, all: string[]) => [...all, value], [])
    .option("--compress <algorithm>", "compress the whole archive: gzip (docker load reads it) or zstd (skopeo and podman read it); ctr reads neither")
    .option("-q, --quiet", "suppress the progress output and notes")
    .option("--json", "print one JSON document of what was saved (on standard error when the archive goes to standard output)")
    .action(async (images: string[], flags: SaveFlags, command: Command) => {
      if (flags.output !== undefined) refuseEmptyOutputPath(flags.output, "-o");
      const options: SaveOptions = {
        format: parseFormat(flags.format),
        platforms: platformsFromOption(flags.platform),
        mtime: mtimeFromEnvironment(),
        progress: { done: 0, total: undefined },
        ...(flags.compress === undefined ? {} : { compress: parseCompression(flags.compress) }),
      };
      const toStdout = flags.output === undefined || flags.output === "-";
      if (toStdout && terminal.stdout.isTTY) throw usage(TERMINAL_REFUSAL);
      const store = await openStoreToRead(command, terminal.stderr);
      const progress = options.progress as { done: number; total: number | undefined };
      const result = await withProgress(
        terminal,
        Boolean(flags.quiet || flags.json),
        "Saving",
        () => progress,
        () => (toStdout ? saveImages(store, images, terminal.stdout, options) : saveToFile(flags.output as string, (sink) => saveImages(store, images, sink, options))),
      );
      reportSave(terminal, result, { quiet: Boolean(flags.quiet), json: Boolean(flags.json), toStdout });
    });
}

export function parseFormat(value: string): LayoutFormat {
  if (value === "docker" || value === "oci") return value;
  throw usage(`--format must be docker or oci, got ${JSON.stringify(value)}`);
}

function parseCompression(value: string): "gzip" | "zstd" {
  if (value === "gzip" || value === "zstd") return value;
  throw usage(`--compress must be gzip or zstd, got ${JSON.stringify(value)}`);
}

/**
 * Notes on standard error (standard output may be the archive): sparse and synthesised images,
 * and, even with -q, images whose archive carries diff IDs nobody checked. `--json` prints
 * `result` as it is (convert's with its `warnings`).
 */
export function reportSave(terminal: Terminal, result: SaveResult & { warnings?: string[] }, how: { quiet: boolean; json: boolean; toStdout: boolean }): void {
  if (how.json) {
    printJson(how.toStdout ? terminal.stderr : terminal.stdout, result);
    return;
  }
  for (const image of result.images) {
    const name = image.tags[0] ?? image.digestNames[0] ?? image.id;
    if (image.absent.length > 0) printLine(terminal.stderr, `note: ${name} is saved sparse: ${image.absent.join(", ")} not in the archive`);
    if (image.uncheckedLayers.length > 0) printLine(terminal.stderr, uncheckedWarning(name, image.uncheckedLayers.length));
    if (!how.quiet && image.origin === "synthesized") {
      printLine(terminal.stderr, synthesizedNote(name, image));
    }
    if (!how.quiet && result.format === "oci" && isDockerRootType(image.mediaType)) {
      printLine(terminal.stderr, `note: ${name} has a Docker manifest (${image.mediaType}), written as it is to keep its digest: skopeo's oci-archive:FILE:TAG and umoci do not find it by its tag in an OCI layout (oci-archive:FILE of a one-image archive, and --format docker, do)`);
    }
  }
  if (!how.quiet && result.format === "oci") for (const note of sharedRefNameNotes(result.images)) printLine(terminal.stderr, note);
}

/**
 * The oci layout's ref.name is a tag without its repository, as containerd writes it: two images
 * tagged `a:1.0` and `b:1.0` share `1.0`, and skopeo's oci-archive:FILE:1.0 takes the first.
 */
function sharedRefNameNotes(images: readonly SavedImage[]): string[] {
  const byRefName = new Map<string, { ids: Set<string>; names: string[] }>();
  for (const image of images) {
    for (const name of image.tags) {
      const refName = parseReference(name).tag ?? "latest";
      const shared = byRefName.get(refName) ?? { ids: new Set<string>(), names: [] };
      shared.ids.add(image.id);
      shared.names.push(name);
      byRefName.set(refName, shared);
    }
  }
  return [...byRefName]
    .filter(([, shared]) => shared.ids.size > 1)
    .map(([refName, shared]) => `note: ref.name ${JSON.stringify(refName)} is the tag of ${shared.ids.size} images (${shared.names.join(", ")}): skopeo's oci-archive:FILE:${refName} picks one of them without a word; lading and ctr tell them apart by their full names`);
}

function isDockerRootType(mediaType: string): boolean {
  return mediaType === MediaType.dockerManifest || mediaType === MediaType.dockerManifestList;
}

/**
 * A name by digest pins the synthesised manifest (a push records one): its digest may then be a
 * registry's too, so the note says only what the archive says of it.
 */
function synthesizedNote(name: string, image: SavedImage): string {
  if (image.digestNames.length === 0) return `note: ${name} has a manifest synthesized by lading (${image.id}), not a registry digest`;
  return `note: ${name} has a manifest synthesized by lading${name.endsWith(image.id) ? "" : ` (${image.id})`}, and index.json marks it so`;
}

function uncheckedWarning(name: string, layers: number): string {
  const what = layers === 1 ? "1 layer whose diff ID was" : `${layers} layers whose diff IDs were`;
  return `warning: ${name} has ${what} never checked (loaded or pulled with --skip-diff-id-check, pulled as a foreign layer, or pulled by an earlier lading): run lading fsck to check ${layers === 1 ? "it" : "them"}`;
}
