import { describe, expect, it } from "vitest";
import { quoteName, shortName } from "../../src/core/quoted-name.js";

describe("quoteName and shortName", () => {
  it("quote a name of up to 200 characters whole", () => {
    const name = `dir/${"n".repeat(196)}`;
    expect(quoteName(name)).toBe(JSON.stringify(name));
    expect(quoteName('a"\\b\0')).toBe('"a\\"\\\\b\\u0000"');
    expect(shortName(name)).toBe(name);
  });

  it("give of a longer name its first 200 characters and its length in UTF-8 bytes", () => {
    const name = "\u00e9".repeat(3 * 1024 * 1024);
    expect(quoteName(name)).toBe(`"${"\u00e9".repeat(200)}"… (6291456 bytes)`);
    expect(shortName(name)).toBe(`${"\u00e9".repeat(200)}… (6291456 bytes)`);
  });

  it("never split a surrogate pair", () => {
    const name = `${"a".repeat(199)}${"\u{1F600}".repeat(10)}`;
    expect(quoteName(name)).toBe(`"${"a".repeat(199)}"… (${199 + 40} bytes)`);
  });
});
