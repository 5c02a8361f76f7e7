import { describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import { resolveLinkTarget, safeEntryName } from "../../src/tar/entry-name.js";

function refusal(run: () => unknown): { kind: string; message: string; subject: string | undefined } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(LadingError);
    const { kind, message, subject } = error as LadingError;
    return { kind, message, subject };
  }
  throw new Error("expected a refusal");
}

describe("safeEntryName", () => {
  it.each([
    ["a", "a"],
    ["./a//b/", "a/b"],
    ["a/./b/.", "a/b"],
    ["././manifest.json", "manifest.json"],
    ["blobs/sha256/", "blobs/sha256"],
    [".", ""],
    ["./", ""],
    ["././", ""],
    ["..a/b..", "..a/b.."],
    ["a/.../b", "a/.../b"],
  ])("normalises %j to %j", (raw, expected) => {
    expect(safeEntryName(raw)).toBe(expected);
  });

  it.each([
    ["../x", '".." component'],
    ["./../x", '".." component'],
    ["a/../../x", '".." component'],
    ["a/../b", '".." component'],
    ["a/..", '".." component'],
    ["/x", "absolute path"],
    ["//x", "absolute path"],
    ["", "empty name"],
    ["a\0b", "contains a NUL byte"],
    ["a\\b", "contains a backslash"],
    ["..\\x", "contains a backslash"],
  ])("refuses %j: %s", (raw, reason) => {
    expect(refusal(() => safeEntryName(raw))).toEqual({
      kind: "invalid",
      message: `unsafe entry name ${JSON.stringify(raw)}: ${reason}`,
      subject: raw,
    });
  });

  it("refuses a component longer than 255 bytes, counting UTF-8 bytes", () => {
    expect(safeEntryName(`d/${"x".repeat(255)}`)).toBe(`d/${"x".repeat(255)}`);
    const long = `d/${"é".repeat(128)}`; // 256 bytes in one component
    expect(refusal(() => safeEntryName(long)).message).toBe(`unsafe entry name ${JSON.stringify(long)}: component longer than 255 bytes`);
  });

  it("refuses names longer than 4096 bytes", () => {
    const fits = Array.from({ length: 16 }, () => "y".repeat(255)).join("/"); // 4095 bytes
    expect(safeEntryName(fits)).toBe(fits);
    const tooLong = `${fits}/z`;
    expect(refusal(() => safeEntryName(tooLong))).toEqual({
      kind: "invalid",
      message: `unsafe entry name "${"y".repeat(200)}"… (4097 bytes): longer than 4096 bytes`,
      subject: `${"y".repeat(200)}… (4097 bytes)`,
    });
  });
});

describe("resolveLinkTarget", () => {
  it.each([
    ["abc/layer.tar", "../def.tar", "def.tar"],
    ["a/b/c", "d", "a/b/d"],
    ["a/b/c", "./d/../e", "a/b/e"],
    ["a/b/c", "../../x/y", "x/y"],
    ["top", "other", "other"],
    ["a/b", "..", ""],
    ["./a//b", "c/", "a/c"],
  ])("%j -> %j resolves to %j", (link, target, expected) => {
    expect(resolveLinkTarget(link, target)).toBe(expected);
  });

  it.each([
    ["a/b", "../../x", "target escapes the archive"],
    ["top", "../x", "target escapes the archive"],
    ["a/b", "c/../../../x", "target escapes the archive"],
    ["a/b", "/etc/passwd", "absolute target"],
    ["a/b", "", "empty target"],
    ["a/b", "x\0y", "target contains a NUL byte"],
    ["a/b", "..\\x", "target contains a backslash"],
  ])("refuses %j -> %j: %s", (link, target, reason) => {
    expect(refusal(() => resolveLinkTarget(link, target))).toEqual({
      kind: "invalid",
      message: `symlink ${JSON.stringify(link)} -> ${JSON.stringify(target)}: ${reason}`,
      subject: link,
    });
  });

  it("refuses a target that resolves to more than 4096 bytes", () => {
    const fits = Array.from({ length: 16 }, () => "y".repeat(255)).join("/"); // 4095 bytes
    expect(resolveLinkTarget("l", fits)).toBe(fits);
    const target = Array.from({ length: 21 }, () => "y".repeat(200)).join("/"); // 4220 bytes
    expect(refusal(() => resolveLinkTarget("a/b", target))).toEqual({
      kind: "invalid",
      message: `symlink "a/b" -> "${"y".repeat(200)}"… (4220 bytes): target longer than 4096 bytes`,
      subject: "a/b",
    });
  });

  it("refuses an unsafe link name before looking at the target", () => {
    expect(refusal(() => resolveLinkTarget("../a", "b")).message).toBe('unsafe entry name "../a": ".." component');
  });
});
