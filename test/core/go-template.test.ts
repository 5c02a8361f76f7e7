// Go's text/template and fmt as docker's --format runs them. Every expected output and message
// below was printed by the docker 28 client (go1.24) for the same template on the same data
// (`docker images --format` and `docker image inspect --format` against `lading serve`).
import { describe, expect, it } from "vitest";
import { GoTemplate, TemplateExecError, TemplateParseError } from "../../src/core/go-template.js";
import { formatFloat, formatGoValue, goJson, GoFloat, GoInt, GoMap, GoSlice, GoStruct, type GoValue } from "../../src/core/go-values.js";
import { goSprintf } from "../../src/core/go-printf.js";

/** Like docker's image format context: methods returning strings. */
const image = new GoStruct(
  "*formatter.imageContext",
  new Map([
    ["ID", "2846d53959af"],
    ["Repository", "fixture/imported"],
    ["Tag", "1.0"],
    ["Digest", "<none>"],
  ]),
  { methods: true },
);

/** Like an inspect document read as docker's CLI reads it. */
const missingKey = (name: string): string => `map has no entry for key ${JSON.stringify(name)}`;
const inspected = new GoStruct(
  "types.ImageInspect",
  new Map<string, GoValue>([
    ["Id", "sha256:2846d539"],
    ["RepoTags", new GoSlice(["fixture/imported:1.0", "imported-plain:latest"], "[]string")],
    ["RepoDigests", new GoSlice([], "[]string")],
    ["Size", new GoInt(32091, "int64")],
    [
      "Config",
      new GoStruct(
        "*container.Config",
        new Map<string, GoValue>([
          ["Env", new GoSlice(["FOO=bar", "A=b"], "[]string")],
          ["Cmd", new GoSlice([], "[]string", true)],
          ["Labels", new GoMap(new Map([["org.example.b", "2"], ["org.example.a", "1"]]), "map[string]string", false, "")],
          ["Volumes", new GoMap(new Map(), "map[string]struct {}", true)],
        ]),
        { missingField: missingKey, zeroFields: new Map([["Healthcheck", null]]) },
      ),
    ],
  ]),
  { missingField: missingKey, zeroFields: new Map([["Variant", ""]]) },
);

const run = (text: string, data: GoValue = image): string => GoTemplate.parse(text).execute(data);

function failure(text: string, data: GoValue = image): string {
  try {
    run(text, data);
  } catch (error) {
    if (error instanceof TemplateParseError || error instanceof TemplateExecError) return error.message;
    throw error;
  }
  throw new Error(`${text} did not fail`);
}

describe("printing values as fmt's %v does", () => {
  it("strings, numbers, booleans, nil, slices, maps with sorted keys, structs", () => {
    expect(formatGoValue("a b")).toBe("a b");
    expect(formatGoValue(new GoInt(-3))).toBe("-3");
    expect(formatGoValue(true)).toBe("true");
    expect(formatGoValue(null)).toBe("<nil>");
    expect(formatGoValue(new GoSlice(["a", new GoInt(1), new GoSlice([])]))).toBe("[a 1 []]");
    expect(formatGoValue(new GoMap(new Map<string, GoValue>([["b", "2"], ["a", new GoSlice(["x"])], ["B", null]])))).toBe("map[B:<nil> a:[x] b:2]");
    expect(formatGoValue(new GoStruct("T", new Map<string, GoValue>([["A", "x"], ["B", ""], ["C", new GoInt(1)]])))).toBe("{x  1}");
  });

  it("floats as %v, %e, %f and %g give them, rounding half to even", () => {
    const v = (x: number): string => formatGoValue(new GoFloat(x));
    expect([v(1.5), v(1e6), v(100000), v(1e21), v(3), v(-0.0001), v(0.00001), v(0.5), v(123456789), v(0)]).toEqual(["1.5", "1e+06", "100000", "1e+21", "3", "-0.0001", "1e-05", "0.5", "1.23456789e+08", "0"]);
    expect(formatFloat(32.091, "g", 3)).toBe("32.1");
    expect(formatFloat(32.091, "g", 4)).toBe("32.09");
    expect(formatFloat(32, "g", 3)).toBe("32");
    expect(formatFloat(999.5, "g", 3)).toBe("1e+03");
    expect(formatFloat(32.25, "g", 3)).toBe("32.2");
    expect(formatFloat(32.35, "g", 3)).toBe("32.4"); // 32.35 is a little above, as a double
    expect(formatFloat(2.5, "f", 0)).toBe("2");
    expect(formatFloat(3.14159, "f", 2)).toBe("3.14");
    expect(formatFloat(1234.5678, "e", 3)).toBe("1.235e+03");
    expect(formatFloat(Number.NaN, "g", -1)).toBe("NaN");
    expect(formatFloat(-Infinity, "g", -1)).toBe("-Inf");
  });

  it("JSON as encoding/json writes it", () => {
    expect(goJson(new GoMap(new Map<string, GoValue>([["b", "<none>"], ["a", new GoSlice([], "[]string", true)]])), true)).toBe('{"a":null,"b":"\\u003cnone\\u003e"}');
    expect(goJson(new GoStruct("T", new Map<string, GoValue>([["Z", "\u2028&"], ["A", new GoFloat(1.5)]])), false)).toBe('{"Z":"\\u2028&","A":1.5}');
    // As the docker 20.10 client's json (Go 1.19: no \b or \f escapes; docker 28's Go 1.24 has them); a lone surrogate is U+FFFD.
    expect(goJson("\b\f\u0001\ud800>", true)).toBe('"\\u0008\\u000c\\u0001\uFFFD\\u003e"');
  });
});

describe("docker's templates, output for output", () => {
  it("fields, text and trim markers", () => {
    expect(run("{{.Repository}}:{{.Tag}}")).toBe("fixture/imported:1.0");
    expect(run("  {{- .ID -}}  {{- /* c */ -}} x")).toBe("2846d53959afx");
    expect(run("{{ .ID -}}\n  x")).toBe("2846d53959afx");
    expect(run("{{.ID | }}")).toBe("2846d53959af");
    expect(run("{{.}}", "plain")).toBe("plain");
  });

  it("inspect documents: maps give <no value> for a missing key, nil slices and maps print empty", () => {
    expect(run("{{.Config.Labels.nope}}|{{.Config.Labels}}|{{.Config.Env}}|{{.Config.Volumes}}|{{.Config.Cmd}}|{{index .Config.Labels \"x\"}}|{{.Config.Healthcheck}}", inspected)).toBe(
      "<no value>|map[org.example.a:1 org.example.b:2]|[FOO=bar A=b]|map[]|[]||<nil>",
    );
    expect(run("{{index .RepoTags 0}} {{join .RepoTags \",\"}} {{len .RepoTags}} {{.Size}}", inspected)).toBe("fixture/imported:1.0 fixture/imported:1.0,imported-plain:latest 2 32091");
    expect(run("{{range .RepoTags}}{{.}} {{end}}", inspected)).toBe("fixture/imported:1.0 imported-plain:latest ");
    expect(run("{{if .Config.Env}}env{{end}}{{if .Config.Cmd}}cmd{{end}}{{if .Variant}}/{{.Variant}}{{end}}", inspected)).toBe("env");
    expect(run("{{json .Config}}", inspected)).toBe('{"Env":["FOO=bar","A=b"],"Cmd":null,"Labels":{"org.example.a":"1","org.example.b":"2"},"Volumes":null}');
    expect(run("{{range $k, $v := .Config.Labels}}{{$k}}={{$v}};{{end}}", inspected)).toBe("org.example.a=1;org.example.b=2;");
    expect(run('{{printf "%s" .Id}} {{printf "%T %T" .Size .Config}}', inspected)).toBe("sha256:2846d539 int64 *container.Config");
  });

  it("variables, if, else if, with, range with break, continue and else, range over an integer", () => {
    expect(run("{{with $x := .ID}}{{$x}}{{end}}")).toBe("2846d53959af");
    expect(run("{{$x := 1}}{{$x = 2}}{{$x}}")).toBe("2");
    expect(run('{{if eq .Tag "2.0" "1.0"}}yes{{else if .ID}}no{{end}}')).toBe("yes");
    expect(run('{{if eq .Tag "2.0"}}yes{{else if .ID}}no{{end}}')).toBe("no");
    expect(run('{{range $i, $c := split .Repository "/"}}{{$i}}={{$c}};{{end}}')).toBe("0=fixture;1=imported;");
    expect(run('{{range $i, $v := split "a,b,c" ","}}{{if eq $i 1}}{{continue}}{{end}}{{$v}}{{if eq $v "c"}}{{break}}{{end}}{{end}}')).toBe("ac");
    expect(run('{{range split "" ","}}[{{.}}]{{else}}none{{end}}')).toBe("[]");
    expect(run("{{range $x := 0}}{{else}}none{{end}}{{range 3}}{{.}}{{end}}")).toBe("none012");
    expect(run("{{with .Nope}}x{{else}}y{{end}}", new GoMap(new Map()))).toBe("y");
    expect(run("{{$.ID}}")).toBe("2846d53959af");
  });

  it("Go's functions", () => {
    expect(run("{{index .ID 1}} {{slice .ID 1 3}} {{len .ID}}")).toBe("56 84 12");
    expect(run('{{lt .ID "a"}} {{ne .Tag "1.0"}} {{le 1 2}} {{gt 1.5 1.2}} {{ge "b" "a"}} {{eq .Nope "x"}}', new GoMap(new Map([["ID", "1"], ["Tag", "1.0"]])))).toBe("true false true true true false");
    expect(run('{{and 1 0 2}}{{or 0 "" "x"}}{{not .ID}}')).toBe("0xfalse");
    expect(run('{{println .ID 1 2}}{{print .ID 1 2 "x" "y" 3}}')).toBe("2846d53959af 1 2\n2846d53959af1 2xy3");
    expect(run('{{html "<a&b>"}}{{urlquery "a b&c"}}{{js "a\'b<"}}')).toBe("&lt;a&amp;b&gt;a+b%26ca\\'b\\u003C");
    expect(run("{{1.5}} {{1e6}} {{0x10}} {{1e21}} {{3.0}} {{-0.0001}} {{.5}} {{1_000}} {{'a'}}")).toBe("1.5 1e+06 16 1e+21 3 -0.0001 0.5 1000 97");
    expect(run('{{.Repository | printf "%s!" | upper}}')).toBe("FIXTURE/IMPORTED!");
  });

  it("docker's functions", () => {
    expect(run('{{json .ID}}{{json 1.5}}{{json nil}}')).toBe('"2846d53959af"1.5null');
    expect(run('{{split .ID "a"}} {{join (split .Repository "/") "+"}}')).toBe("[2846d53959 f] fixture+imported");
    expect(run('{{title "hello wORLD-foo_bar"}} {{lower "ÀB"}} {{upper "straße"}}')).toBe("Hello WORLD-Foo_bar àb STRAßE");
    expect(run("{{pad .ID 2 3}}|{{pad \"\" 1 1}}|{{truncate .ID 5}}|{{truncate .ID 50}}")).toBe("  2846d53959af   ||2846d|2846d53959af");
  });

  it("printf as fmt.Sprintf", () => {
    expect(run('{{printf "%d %s %v %q %x %5s|%-5s|%05d %t %z" .ID .ID .ID .ID .ID 1 2 3 true 4}}')).toBe(
      '%!d(string=2846d53959af) 2846d53959af 2846d53959af "2846d53959af" 323834366435333935396166 %!s(int=    1)|%!s(int=2    )|00003 true %!z(int=4)',
    );
    expect(run('{{printf "%s"}}|{{printf "%s" 1 2}}|{{printf "%d" nil}}')).toBe("%!s(MISSING)|%!s(int=1)%!(EXTRA int=2)|%!d(<nil>)");
    expect(run('{{printf "%.2f|%8.3e|%g|%G|%x|%X|%o|%b|%c|%U|%+d|% d" 3.14159 1234.5678 0.000012 1e21 255 255 8 5 65 65 3 4}}')).toBe("3.14|1.235e+03|1.2e-05|1E+21|ff|FF|10|101|A|U+0041|+3| 4");
    // A rune that is no Unicode scalar prints as U+FFFD, and %U shows it as an unsigned 64-bit value, as Go's fmt does.
    expect(run('{{printf "%c|%c|%q|%U" -1 1114112 55296 -1}}')).toBe("\uFFFD|\uFFFD|'\uFFFD'|U+FFFFFFFFFFFFFFFF");
    expect(run('{{printf "%v|%q" (split .Repository "/") (split .Repository "/")}}')).toBe('[fixture imported]|["fixture" "imported"]');
    expect(run('{{printf "%5.1s|%-8q|%x" "abc" "a" "hi there"}}')).toBe('    a|"a"     |6869207468657265');
    expect(goSprintf("%T %T %T %T %%", ["s", new GoInt(1), new GoFloat(1.5), true])).toBe("string int float64 bool %");
  });
});

describe("errors in Go's words", () => {
  it("parse errors", () => {
    expect(failure("{{.Repository")).toBe("template: :1: unclosed action");
    expect(failure("{{nope}}")).toBe('template: :1: function "nope" not defined');
    expect(failure("{{$x}}")).toBe('template: :1: undefined variable "$x"');
    expect(failure("{{end}}")).toBe("template: :1: unexpected {{end}}");
    expect(failure("{{if .ID}}x")).toBe("template: :1: unexpected EOF");
    expect(failure("{{| .ID}}")).toBe('template: :1: unexpected "|" in command');
    expect(failure("{{}}")).toBe("template: :1: missing value for command");
    expect(failure('{{"x" | "y"}}')).toBe("template: :1: non executable command in pipeline stage 2");
    expect(failure("a\n{{/* x */}}\n{{.A}")).toBe("template: :3: bad character U+007D '}'");
    expect(failure("{{break}}")).toBe("template: :1: {{break}} outside {{range}}");
  });

  it("execution errors, at the node Go names", () => {
    expect(failure("{{.Nope}}")).toBe(`template: :1:2: executing "" at <.Nope>: can't evaluate field Nope in type *formatter.imageContext`);
    expect(failure("{{.Nope}}", inspected)).toBe(`template: :1:2: executing "" at <.Nope>: map has no entry for key "Nope"`);
    expect(failure("{{.Config.Healthcheck.Test}}", inspected)).toBe(`template: :1:9: executing "" at <.Config.Healthcheck.Test>: map has no entry for key "Healthcheck"`);
    expect(failure("{{eq .ID 1}}")).toBe(`template: :1:2: executing "" at <eq .ID 1>: error calling eq: incompatible types for comparison`);
    expect(failure("{{lt .ID 1}}")).toBe(`template: :1:2: executing "" at <lt .ID 1>: error calling lt: incompatible types for comparison`);
    expect(failure("{{index .ID 100}}")).toBe(`template: :1:2: executing "" at <index .ID 100>: error calling index: index out of range: 100`);
    expect(failure("{{.ID.Foo}}")).toBe(`template: :1:5: executing "" at <.ID.Foo>: can't evaluate field Foo in type string`);
    expect(failure("{{(.Tag).Len}}")).toBe(`template: :1:3: executing "" at <.Tag>: can't evaluate field Len in type string`);
    expect(failure("{{.ID 1}}")).toBe(`template: :1:2: executing "" at <.ID>: wrong number of args for ID: want 0 got 1`);
    expect(failure("{{printf}}")).toBe(`template: :1:2: executing "" at <printf>: wrong number of args for printf: want at least 1 got 0`);
    expect(failure("{{len .ID}}{{len 3}}")).toBe(`template: :1:13: executing "" at <len 3>: error calling len: len of type int`);
    expect(failure('{{join .ID ","}}')).toBe(`template: :1:7: executing "" at <.ID>: wrong type for value; expected []string; got string`);
    expect(failure("{{lower 3}}")).toBe(`template: :1:8: executing "" at <3>: expected string; found 3`);
    expect(failure("{{range .ID}}{{.}}{{end}}")).toBe(`template: :1:8: executing "" at <.ID>: range can't iterate over 2846d53959af`);
  });

  it("keeps what was written before an execution error", () => {
    try {
      run("ab{{.ID}}{{.Nope}}");
    } catch (error) {
      expect((error as TemplateExecError).partial).toBe("ab2846d53959af");
    }
  });
});
