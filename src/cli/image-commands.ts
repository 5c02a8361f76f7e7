import type { Command } from "commander";
import { ZERO_TIME_SECONDS } from "../core/docker-image-fields.js";
import { parseImageFilters } from "../ops/image-filters.js";
import { createdTime, inspectImage, listImages, pruneBlobs, referenceRows, removeImage, tagImage, type ImageSummary } from "../ops/images.js";
import { imagesFormatter, inspectFormatter } from "./format-option.js";
import { humanDuration, humanSize, printDockerJson, printJson, printLine, shortId, type Terminal } from "./output.js";
import { tabulate } from "./tab-writer.js";
import { platformsFromOption } from "./platform-option.js";
import { openStore, openStoreToRead } from "./store-option.js";
import { LadingError, toLadingError } from "../core/errors.js";

export function registerImageCommands(program: Command, terminal: Terminal, setExit: (code: number) => void): void {
  program
    .command("images")
    .description("list images, like docker images")
    .argument("[pattern]", "list only the references this glob matches (docker's reference filter): repository, repository:tag, repository@digest, or a pattern such as 'fixture/*' or 'app:1.*'")
    .option("-f, --filter <key=value>", "filter as docker images --filter does, repeatable: dangling=true|false, reference=PATTERN (any of them), label=KEY or label=KEY=VALUE, before=IMAGE, since=IMAGE (all of them)", collect)
    .option("--digests", "show digests")
    .option("--no-trunc", "do not truncate IDs")
    .option("-q, --quiet", "print only image IDs, one per row of the table (an image with several tags more than once, as docker)")
    .option("--json", "print JSON")
    .option("-a, --all", "show all images (untagged ones are always shown)")
    .option("--format <template>", "format the rows with a Go template, as docker images --format: 'table', 'json', or e.g. '{{.Repository}}:{{.Tag}}'")
    .action(async (pattern: string | undefined, flags: { filter?: string[]; digests?: boolean; trunc: boolean; quiet?: boolean; json?: boolean; format?: string }, command: Command) => {
      const filters = parseImageFilters(flags.filter ?? [], pattern);
      const formatted = flags.format ? imagesFormatter(flags.format, { quiet: Boolean(flags.quiet), digests: Boolean(flags.digests), trunc: flags.trunc }) : undefined;
      const store = await openStoreToRead(command, terminal.stderr);
      const images = await listImages(store, filters);
      if (flags.json) return printJson(terminal.stdout, images);
      if (formatted) return void terminal.stdout.write(formatted(images));
      const rows = tableRows(images, flags);
      if (flags.quiet) for (const row of rows) printLine(terminal.stdout, row.id);
      else printTable(terminal, rows, Boolean(flags.digests));
    });

  program
    .command("inspect")
    .description("show details of one or more images, like docker image inspect")
    .argument("<image...>")
    .option("--platform <os/arch[/variant]>", "show this platform of a multi-platform image (default: the host's, else the first)")
    .option("-f, --format <template>", "format each image with a Go template, as docker inspect --format: 'json', or e.g. '{{.Id}}' or '{{json .Config}}'")
    .action(async (queries: string[], flags: { platform?: string; format?: string }, command: Command) => {
      const [platform] = platformsFromOption(flags.platform === undefined ? [] : [flags.platform]);
      const formatted = flags.format ? inspectFormatter(flags.format) : undefined;
      const store = await openStoreToRead(command, terminal.stderr);
      const results: unknown[] = [];
      let failure: LadingError | undefined;
      for (const query of queries) {
        try {
          results.push(await inspectImage(store, query, platform ? { platform } : {}));
        } catch (error) {
          failure = toLadingError(error);
          printLine(terminal.stderr, `Error: ${failure.message}`);
        }
      }
      if (formatted) {
        const { output, errors } = formatted(results);
        terminal.stdout.write(output);
        for (failure of errors) printLine(terminal.stderr, `Error: ${failure.message}`);
      } else printDockerJson(terminal.stdout, results);
      if (failure) setExit(failure.exitCode);
    });

  program
    .command("tag")
    .description("create a tag TARGET that refers to SOURCE")
    .argument("<source>")
    .argument("<target>")
    .action(async (source: string, target: string, _flags: unknown, command: Command) => {
      const store = await openStore(command);
      await tagImage(store, source, target);
    });

  program
    .command("rmi")
    .description("remove image references (and images with no reference left)")
    .argument("<image...>")
    .option("-f, --force", "remove an image referenced in several repositories; a missing image is not a failure")
    .action(async (queries: string[], flags: { force?: boolean }, command: Command) => {
      const store = await openStore(command);
      // Said once for all the images (removeImage would say it for each), and with -f too, as it is no missing image.
      const lost = await store.refuseLostReferences().then(() => undefined, toLadingError);
      if (lost !== undefined) {
        printLine(terminal.stderr, `Error: ${lost.message}`);
        return setExit(lost.exitCode);
      }
      let failure: LadingError | undefined;
      let fatal: LadingError | undefined;
      for (const query of queries) {
        try {
          const result = await removeImage(store, query, Boolean(flags.force));
          for (const reference of result.untagged) printLine(terminal.stdout, `Untagged: ${reference}`);
          for (const id of result.deleted) printLine(terminal.stdout, `Deleted: ${id}`);
        } catch (error) {
          failure = toLadingError(error);
          // As docker's CLI: with -f, "No such image" is reported but does not fail the command.
          if (!(error instanceof LadingError && error.kind === "not-found")) fatal = failure;
          printLine(terminal.stderr, `Error: ${failure.message}`);
        }
      }
      const exitWith = fatal ?? (flags.force ? undefined : failure);
      if (exitWith) setExit(exitWith.exitCode);
    });

  program
    .command("prune")
    .description("remove blobs that no image needs, and leftovers of interrupted loads")
    .action(async (_flags: unknown, command: Command) => {
      const store = await openStore(command);
      const result = await pruneBlobs(store);
      for (const digest of result.deleted) printLine(terminal.stdout, `deleted: ${digest}`);
      printLine(terminal.stdout, `Total reclaimed space: ${humanSize(result.reclaimed)}`);
    });
}

interface Row {
  repository: string;
  tag: string;
  digest: string;
  id: string;
  created: string;
  size: string;
}

function tableRows(images: ImageSummary[], flags: { digests?: boolean; trunc: boolean }): Row[] {
  const rows: Row[] = [];
  for (const image of images) {
    const id = flags.trunc ? shortId(image.id) : image.id;
    const base = { id, created: createdSince(image.created), size: humanSize(image.size) };
    // As docker's image table: a row per tag (per tag and digest of its repository with
    // --digests), then the repositories named only by digest, with tag <none>.
    const digestsByRepo = new Map<string, string[]>();
    for (const reference of image.repoDigests) {
      const [repository = "", digest = ""] = reference.split("@");
      digestsByRepo.set(repository, [...(digestsByRepo.get(repository) ?? []), digest]);
    }
    const before = rows.length;
    for (const { repository, tag } of referenceRows(image)) {
      for (const digest of (flags.digests ? digestsByRepo.get(repository) : undefined) ?? ["<none>"]) rows.push({ repository, tag, digest, ...base });
    }
    if (rows.length === before) rows.push({ repository: "<none>", tag: "<none>", digest: "<none>", ...base });
    if (image.incomplete.length > 0) for (const row of rows.slice(before)) row.size = "incomplete";
  }
  return rows;
}

/** docker's CREATED: how long ago, or N/A for no time (a missing one, or Go's zero time, which docker cannot tell apart). */
function createdSince(created: string | null): string {
  const time = createdTime(created);
  if (time === undefined || Math.floor(time / 1000) === ZERO_TIME_SECONDS) return "N/A";
  return `${humanDuration(Date.now() - time)} ago`;
}

function printTable(terminal: Terminal, rows: Row[], digests: boolean): void {
  const columns: [string, keyof Row][] = [["REPOSITORY", "repository"], ["TAG", "tag"], ...(digests ? ([["DIGEST", "digest"]] as [string, keyof Row][]) : []), ["IMAGE ID", "id"], ["CREATED", "created"], ["SIZE", "size"]];
  const lines = [columns.map(([title]) => title), ...rows.map((row) => columns.map(([, key]) => row[key]))];
  printLine(terminal.stdout, tabulate(lines.map((cells) => cells.join("\t")).join("\n")));
}

/** Commander's accumulator for a repeatable option. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
