// commander's own usage errors (a missing argument, an unknown option, too many arguments, an
// option without its value, an unknown command) in lading's words for every command: one line,
// `lading: usage error: …`, exit 2, nothing on standard output.
import { describe, expect, it } from "vitest";
import { ensureBuilt, runLading } from "../support/archive-builder.js";
import { ladingInProcess } from "../support/in-process-cli.js";

const usageError = (message: string) => ({ code: 2, stdout: "", stderr: `lading: usage error: ${message}\n` });

describe("commander's usage errors", () => {
  it("take lading's prefix, whichever command they come from", async () => {
    const cases: [string[], string][] = [
      [["verify"], "missing required argument 'archive'"],
      [["tag", "a"], "missing required argument 'target'"],
      [["image", "tag", "a"], "missing required argument 'target'"],
      [["verify", "a.tar", "b.tar"], "too many arguments for 'verify'. Expected 1 argument but got 2."],
      [["images", "--bogus"], "unknown option '--bogus'"],
      [["image", "ls", "--bogus"], "unknown option '--bogus'"],
      [["save", "-o"], "option '-o, --output <file>' argument missing"],
      [["nosuch"], "unknown command 'nosuch'"],
    ];
    for (const [args, message] of cases) expect([args, await ladingInProcess(...args)]).toEqual([args, usageError(message)]);
  });

  it("keep commander's suggestion on the same line", async () => {
    expect(await ladingInProcess("load", "--inptu", "x.tar")).toEqual(usageError("unknown option '--inptu' (did you mean --input?)"));
  });

  it("include help for a topic that is no command, in docker's words, rather than the whole help", async () => {
    expect(await ladingInProcess("help", "bogus")).toEqual(usageError("unknown help topic: bogus"));
    const [load, ls] = [await ladingInProcess("help", "load"), await ladingInProcess("help", "image")];
    expect([load.code, load.stdout.split("\n")[0], ls.code, ls.stdout.split("\n")[0]]).toEqual([0, "Usage: lading load [options]", 0, "Usage: lading image [options] [command]"]);
    const help = await ladingInProcess("help", "help");
    expect([help.code, help.stdout.split("\n")[0], help.stderr]).toEqual([0, "Usage: lading [options] [command]", ""]);
  });

  it("find a subcommand's help as docker help does, and name the words that are no command", async () => {
    const [nested, own] = [await ladingInProcess("help", "image", "ls"), await ladingInProcess("image", "ls", "--help")];
    expect([nested.code, nested.stdout.split("\n")[0], nested.stdout === own.stdout, nested.stderr]).toEqual([0, "Usage: lading image ls|list [options] [pattern]", true, ""]);
    expect(await ladingInProcess("help", "image", "nosuch")).toEqual(usageError("unknown help topic: nosuch"));
    expect(await ladingInProcess("help", "nosuch", "image")).toEqual(usageError("unknown help topic: nosuch image"));
    expect(await ladingInProcess("help", "load", "extra")).toEqual(usageError("unknown help topic: extra"));
    expect(await ladingInProcess("help", "help", "load")).toEqual(usageError("unknown help topic: load"));
  });

  it("are no archive's problem: verify --json prints no document for one", async () => {
    expect(await ladingInProcess("verify", "--json")).toEqual(usageError("missing required argument 'archive'"));
  });

  it("read the same from the built binary", async () => {
    ensureBuilt();
    expect(await runLading(["verify", "--json"])).toEqual(usageError("missing required argument 'archive'"));
  });
});
