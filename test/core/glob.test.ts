// Go's path.Match, as dockerd 20.10's reference filter uses it. Each case below was checked with
// `docker images PATTERN` against a dockerd 20.10.24 holding the fixture images: the name is a
// familiar reference or repository docker matched (or did not), the bad patterns gave
// "Error response from daemon: syntax error in pattern".
import { describe, expect, it } from "vitest";
import { globMatch, GlobSyntaxError, isValidGlob } from "../../src/core/glob.js";

describe("globMatch (Go's path.Match)", () => {
  it("* and ? do not cross /; a class may match /; ^ negates a class, ! is a plain character", () => {
    const cases: [string, string, boolean][] = [
      ["fixture/*", "fixture/imported", true],
      ["*", "fixture/imported", false],
      ["*", "imported-plain", true],
      ["fixture*", "fixture/imported", false],
      ["*/*", "fixture/imported", true],
      ["fixture/?mported", "fixture/imported", true],
      ["fixture?imported", "fixture/imported", false],
      ["fixture[/]umoci-app", "fixture/umoci-app", true],
      ["fixture[^x]umoci-app", "fixture/umoci-app", true],
      ["fixture/derived-[^a]", "fixture/derived-a", false],
      ["fixture/derived-[^a]", "fixture/derived-b", true],
      ["fixture/derived-[!a]", "fixture/derived-a", true],
      ["fixture/derived-[!a]", "fixture/derived-b", false],
      ["fixture/derived-[a-b]", "fixture/derived-b", true],
      ["fixture/derived-[b-a]", "fixture/derived-a", false],
      ["fixture/umoci-app:1.*", "fixture/umoci-app:1.0", true],
      ["fixture/umoci-app:1.*", "fixture/umoci-app:latest", false],
      ["fixture/imported:[^a-z]*", "fixture/imported:1.0", true],
      ["fixture/imported:\\l*", "fixture/imported:latest", true],
      ["fixture/imported:[\\l]atest", "fixture/imported:latest", true],
      ["fixture/\\imported", "fixture/imported", true],
      ["fixture/imported:", "fixture/imported", false],
      ["fixture/*@sha256:6624*", "fixture/derived-a@sha256:662400124e1af9323b39bb1b8c1760dcec107697fdc9695102e02efb0dfe175d", true],
      ["fixture/*@sha256:6624*", "fixture/derived-b@sha256:0b6aaa7c48083bcdd854f648faa89a3753d09991541441a57f3b796fe90df875", false],
      ["*/team/*", "localhost:5000/team/imported", true],
      ["*/team/*", "registry.example.com:5000/team/umoci-app", true],
      // A star's chunk is taken where it first matches: [/e] takes the e of "fixture", and the
      // next * cannot cross the /. A RegExp ([^/]*[/e][^/]*d) would match.
      ["*[/e]*d", "fixture/imported", false],
      ["*[/]*d", "fixture/imported", true],
    ];
    expect(cases.map(([pattern, name]) => [pattern, name, globMatch(pattern, name)])).toEqual(cases);
  });

  it("a malformed pattern is an error whatever the name, and isValidGlob says so", () => {
    const bad = ["fixture/[", "fixture/\\", "fixture/[]a]", "fixture/derived-[a-]", "fixture/imported:1.0[", "fixture/[^]", "fixture/[a", "zzz/["];
    for (const pattern of bad) {
      expect(() => globMatch(pattern, "fixture/imported")).toThrow(GlobSyntaxError);
      expect(() => globMatch(pattern, "")).toThrow("syntax error in pattern");
    }
    expect(bad.map(isValidGlob)).toEqual(bad.map(() => false));
    expect(["fixture/*", "[]]", "a[\\]]", "*", ""].map(isValidGlob)).toEqual([true, false, true, true, true]);
  });
});
