import { describe, expect, it } from "vitest";
import { goJson, goMap, isGoMap } from "../../src/core/go-json.js";

describe("goJson: JSON as dockerd's Go encoder writes it", () => {
  it("writes a struct's keys in their order and a map's sorted by their UTF-8 bytes, numeric-looking keys too", () => {
    const labels = goMap({ zeta: "1", "10": "ten", "9": "nine", Beta: "3", "\u{1F600}": "smile", "\uFFFD": "replacement", "010": "x" });
    expect(isGoMap(labels)).toBe(true);
    expect(isGoMap({ a: 1 })).toBe(false);
    // JS itself puts "9" before "10" (array-index keys first, in numeric order); UTF-16 order would put the emoji before U+FFFD.
    expect(goJson({ Z: 1, A: labels })).toBe('{"Z":1,"A":{"010":"x","10":"ten","9":"nine","Beta":"3","zeta":"1","\uFFFD":"replacement","\u{1F600}":"smile"}}');
  });

  it("escapes as Go does without HTML escaping: \\n \\r \\t by name, other control characters, U+2028 and U+2029 as \\u00XX", () => {
    expect(goJson("<&> \"q\" \\ \n\r\t\b\f\u0001\u007f\u2028\u2029é")).toBe('"<&> \\"q\\" \\\\ \\n\\r\\t\\u0008\\u000c\\u0001\u007f\\u2028\\u2029é"');
    // Go's decoder reads a lone surrogate as U+FFFD, which the encoder writes as it is.
    expect(goJson("a\ud800b")).toBe('"a\uFFFDb"');
  });

  it("indents as json.Indent does, empty arrays and objects on one line; undefined keys are left out", () => {
    expect(goJson([{ A: [], B: {}, C: [1, "x"], D: null, E: undefined, F: true }], "    ")).toBe(
      '[\n    {\n        "A": [],\n        "B": {},\n        "C": [\n            1,\n            "x"\n        ],\n        "D": null,\n        "F": true\n    }\n]',
    );
    expect(goJson([], "    ")).toBe("[]");
  });
});
