import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { numberSpelling, parseJsonStrict } from "../../src/core/json.js";
import { messageOf } from "../support/error-message.js";


describe("parseJsonStrict", () => {
  it("returns what JSON.parse returns for valid documents, whatever their strings hold", () => {
    const text = '{"a:b":"x\\"y:{[","c":[{"d":"\\\\"},{"d":"\\\\\\""}],"e":{"f":{"g":null}},"h":"}]:,"}';
    expect(parseJsonStrict(text, "doc")).toEqual(JSON.parse(text));
    expect(parseJsonStrict(Buffer.from(' [ 1 , { "k" : "v" } ] \n'), "doc")).toEqual([1, { k: "v" }]);
    expect(parseJsonStrict('{"__proto__":{"x":1},"y":2}', "doc")).toEqual(JSON.parse('{"__proto__":{"x":1},"y":2}'));
  });

  it("names a duplicate key, also one spelt with escapes or nested deep inside", () => {
    expect(messageOf(() => parseJsonStrict('{"a":1,"b":2,"a":3}', "doc"))).toBe('doc: duplicate key "a"');
    expect(messageOf(() => parseJsonStrict('{"a":1,"\\u0061":2}', "doc"))).toBe('doc: duplicate key "a"');
    expect(messageOf(() => parseJsonStrict('[{"x":{"y":[{"k":1,"k:":2,"k":3}]}}]', "doc"))).toBe('doc: duplicate key "k"');
    // Equal keys in different objects are no duplicates.
    expect(parseJsonStrict('{"a":{"a":1},"b":{"a":2}}', "doc")).toEqual({ a: { a: 1 }, b: { a: 2 } });
  });

  it("records how numbers with a fraction or an exponent were spelt, by holder and key", () => {
    const text = '{"a":398.0,"b":[1,2e3,{"c":-0.5E+1}],"d":"1.0e1","e":true,"f":false,"g":1,"h":[[7.25]]}';
    const value = parseJsonStrict(text, "doc") as { b: [number, number, object]; h: [number[]] };
    expect(value).toEqual(JSON.parse(text));
    expect(numberSpelling(value, "a")).toBe("398.0");
    expect(numberSpelling(value.b, 1)).toBe("2e3");
    expect(numberSpelling(value.b[2], "c")).toBe("-0.5E+1");
    expect(numberSpelling(value.h[0]!, 0)).toBe("7.25");
    for (const key of ["d", "e", "f", "g"]) expect(numberSpelling(value, key)).toBeUndefined();
    expect(numberSpelling(value.b, 0)).toBeUndefined();
    const integers = parseJsonStrict('{"size":398,"e":true,"x":[-1,0]}', "doc") as { x: number[] };
    expect(numberSpelling(integers, "size")).toBeUndefined();
    expect(numberSpelling(integers.x, 0)).toBeUndefined();
  });

  it("accepts 64 levels of nesting and refuses 65, before looking at the syntax", () => {
    expect(parseJsonStrict(`${"[".repeat(64)}${"]".repeat(64)}`, "doc")).toBeInstanceOf(Array);
    expect(messageOf(() => parseJsonStrict(`${"[".repeat(65)}${"]".repeat(65)}`, "doc"))).toBe("doc: JSON nested deeper than 64 levels");
    expect(messageOf(() => parseJsonStrict(`${"[".repeat(65)}`, "doc"))).toBe("doc: JSON nested deeper than 64 levels");
  });

  it("reports bad syntax and bad UTF-8 with JSON.parse's words", () => {
    expect(messageOf(() => parseJsonStrict('{"a":', "doc"))).toBe("doc: invalid JSON: Unexpected end of JSON input");
    expect(messageOf(() => parseJsonStrict('{"a":1,"a":2', "doc"))).toBe('doc: duplicate key "a"');
    expect(messageOf(() => parseJsonStrict(Buffer.from([0x22, 0xff, 0x22]), "doc"))).toBe("doc: not valid UTF-8");
  });

  it("agrees with a key-by-key check on generated documents (fixed seed)", () => {
    const keys = fc.constantFrom("a", "b", "a:b", 'q"', "\\", "{", "[]", "\u00e9");
    const tree = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: "small", withCrossShrink: true },
        fc.oneof(fc.string(), fc.integer(), fc.constant(null)),
        fc.array(tie("node"), { maxLength: 3 }),
        fc.array(fc.tuple(keys, tie("node")), { maxLength: 4 }).map((pairs) => ({ pairs })),
      ),
    })).node;
    const render = (value: unknown): string => {
      if (Array.isArray(value)) return `[${value.map(render).join(",")}]`;
      if (typeof value === "object" && value !== null) {
        const { pairs } = value as { pairs: [string, unknown][] };
        return `{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${render(v)}`).join(",")}}`;
      }
      return JSON.stringify(value);
    };
    const firstDuplicate = (value: unknown): string | undefined => {
      if (Array.isArray(value)) {
        for (const item of value) {
          const found = firstDuplicate(item);
          if (found !== undefined) return found;
        }
        return undefined;
      }
      if (typeof value !== "object" || value === null) return undefined;
      const seen = new Set<string>();
      for (const [k, v] of (value as { pairs: [string, unknown][] }).pairs) {
        if (seen.has(k)) return k;
        seen.add(k);
        const found = firstDuplicate(v);
        if (found !== undefined) return found;
      }
      return undefined;
    };
    fc.assert(
      fc.property(tree, (value) => {
        const text = render(value);
        const duplicate = firstDuplicate(value);
        if (duplicate === undefined) expect(parseJsonStrict(text, "doc")).toEqual(JSON.parse(text));
        else expect(messageOf(() => parseJsonStrict(text, "doc"))).toBe(`doc: duplicate key ${JSON.stringify(duplicate)}`);
      }),
      { seed: 5, numRuns: 500 },
    );
  });
});
