import { describe, expect, it } from "vitest";
import { LadingError } from "../../src/core/errors.js";
import {
  familiarName,
  formatReference,
  fullName,
  isFullImageId,
  parseReference,
  parseRepository,
  withDefaultTag,
  type ImageReference,
} from "../../src/core/reference.js";

const F64 = "f".repeat(64);
const F128 = "f".repeat(128);
const HEX64 = "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a";

function errorOf(fn: () => unknown): LadingError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(LadingError);
    return error as LadingError;
  }
  throw new Error("expected an error");
}

describe("parseReference: valid references (distribution/reference cases, normalised)", () => {
  // [input, domain, path, tag, digest]
  const cases: Array<[string, string, string, string | undefined, string | undefined]> = [
    ["test_com", "docker.io", "library/test_com", undefined, undefined],
    ["test.com:tag", "docker.io", "library/test.com", "tag", undefined],
    ["test.com:5000", "docker.io", "library/test.com", "5000", undefined],
    ["test.com/repo:tag", "test.com", "repo", "tag", undefined],
    ["test:5000/repo", "test:5000", "repo", undefined, undefined],
    ["test:5000/repo:tag", "test:5000", "repo", "tag", undefined],
    [`test:5000/repo@sha256:${F64}`, "test:5000", "repo", undefined, `sha256:${F64}`],
    [`test:5000/repo:tag@sha256:${F64}`, "test:5000", "repo", "tag", `sha256:${F64}`],
    ["lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", undefined],
    ["sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux", "some-long-tag", undefined],
    ["b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app", "test.example.com", undefined],
    ["xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", undefined],
    [`xn--7o8h.com/myimage:xn--7o8h.com@sha512:${F128}`, "xn--7o8h.com", "myimage", "xn--7o8h.com", `sha512:${F128}`],
    ["foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", undefined],
    ["foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", undefined],
    ["192.168.1.1", "docker.io", "library/192.168.1.1", undefined, undefined],
    ["192.168.1.1:5000", "docker.io", "library/192.168.1.1", "5000", undefined],
    ["192.168.1.1/repo", "192.168.1.1", "repo", undefined, undefined],
    ["192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", undefined],
    ["[2001:db8::1]/repo", "[2001:db8::1]", "repo", undefined, undefined],
    ["[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", undefined],
    [`[2001:db8::1]:5000/repo:tag@sha256:${F64}`, "[2001:db8::1]:5000", "repo", "tag", `sha256:${F64}`],
    ["[::1]:5000/repo", "[::1]:5000", "repo", undefined, undefined],
    ["docker---rules/docker", "docker.io", "docker---rules/docker", undefined, undefined],
    ["dock__er/docker", "docker.io", "dock__er/docker", undefined, undefined],
    ["d/docker", "docker.io", "d/docker", undefined, undefined],
    ["thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io", "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", undefined, undefined],
    [`docker.io/${HEX64}`, "docker.io", `library/${HEX64}`, undefined, undefined],
    ["Docker/docker", "Docker", "docker", undefined, undefined],
    ["DOCKER/docker", "DOCKER", "docker", undefined, undefined],
    ["LOCALHOST/x", "LOCALHOST", "x", undefined, undefined],
    ["localhost/x", "localhost", "x", undefined, undefined],
    ["localhost", "docker.io", "library/localhost", undefined, undefined],
    ["localhost:5000", "docker.io", "library/localhost", "5000", undefined],
    ["localhost:5000/team/x:v1", "localhost:5000", "team/x", "v1", undefined],
    ["sha256:abc", "docker.io", "library/sha256", "abc", undefined],
    // A first component that contains "." but is no valid host falls back to being a path component.
    ["foo_bar.com/repo", "", "foo_bar.com/repo", undefined, undefined],
  ];
  it.each(cases)("%s", (input, domain, path, tag, digest) => {
    const expected: ImageReference = { domain, path };
    if (tag !== undefined) expected.tag = tag;
    if (digest !== undefined) expected.digest = digest;
    expect(parseReference(input)).toEqual(expected);
  });

  it("accepts a path of exactly 255 characters and a 128-character tag", () => {
    const path = `${"a/".repeat(127)}a`;
    expect(parseReference(`${path}:tag-puts-this-over-max`)).toEqual({ domain: "docker.io", path, tag: "tag-puts-this-over-max" });
    expect(parseReference(`busybox:${"t".repeat(128)}`).tag).toBe("t".repeat(128));
    // A single component gets "library/" (8 characters) in front of it.
    expect(parseReference("a".repeat(247)).path).toBe(`library/${"a".repeat(247)}`);
  });
});

describe("parseReference: invalid references", () => {
  const invalidFormat: string[] = [
    "",
    ":justtag",
    `@sha256:${F64}`,
    "aa/asdf$$^/aa",
    "[2001:db8::1]",
    "[2001:db8::1]:5000",
    "[2001:db8::1]:tag",
    "[fe80::1%eth0]:5000/repo",
    "[fe80::1%@invalidzone]:5000/repo",
    "https://github.com/docker/docker",
    "-docker",
    "-docker/docker",
    "-docker.io/docker/docker",
    "docker///docker",
    "docker.io/docker///docker",
    "[fc00::1]",
    "[fc00::1]:5000",
    "fc00::1:5000/debian",
    "[2001:db8:3:4::192.0.2.33]:5000/debian",
    "docker-/docker",
    "-docker-/docker",
    "____/____",
    "_docker/_docker",
    "dock..er/docker",
    "dock_.er/docker",
    "dock-.er/docker",
    "docker/",
    "busybox:-foo",
    "busybox:.foo",
    `busybox:${"t".repeat(129)}`,
    "busy box",
    "busybox@",
    "busybox:",
    "../../etc/passwd",
  ];
  it.each(invalidFormat)("%j is an invalid reference format", (input) => {
    const error = errorOf(() => parseReference(input));
    expect(error.kind).toBe("invalid");
    expect(error.message).toBe(`invalid reference format: ${JSON.stringify(input)}`);
    expect(error.subject).toBe(input);
  });

  it("refuses uppercase repository names with Docker's message", () => {
    expect(errorOf(() => parseReference("Uppercase:tag")).message).toBe(
      "invalid reference format: repository name (library/Uppercase) must be lowercase",
    );
    expect(errorOf(() => parseReference("library/Foo")).message).toBe(
      "invalid reference format: repository name (library/Foo) must be lowercase",
    );
    expect(errorOf(() => parseReference("test:5000/Uppercase/lowercase:tag")).message).toBe(
      "invalid reference format: repository name (Uppercase/lowercase) must be lowercase",
    );
    expect(errorOf(() => parseReference("docker/Docker")).message).toBe(
      "invalid reference format: repository name (docker/Docker) must be lowercase",
    );
    expect(errorOf(() => parseReference("docker.io/docker/Docker")).message).toBe(
      "invalid reference format: repository name (docker/Docker) must be lowercase",
    );
    // The first component is taken as a host (uppercase) but is not a valid one.
    expect(errorOf(() => parseReference("FOO_X/bar")).message).toBe(
      "invalid reference format: repository name (FOO_X/bar) must be lowercase",
    );
  });

  it("refuses a 64-hex name: that is an image ID", () => {
    const error = errorOf(() => parseReference(HEX64));
    expect(error.kind).toBe("invalid");
    expect(error.message).toBe(`invalid repository name (${HEX64}), cannot specify 64-byte hexadecimal strings`);
  });

  it("refuses a repository path longer than 255 characters", () => {
    const input = `${"a/".repeat(128)}a:tag`;
    expect(errorOf(() => parseReference(input)).message).toBe(
      "invalid reference format: repository name must not be more than 255 characters",
    );
    expect(errorOf(() => parseReference("a".repeat(248))).message).toBe(
      "invalid reference format: repository name must not be more than 255 characters",
    );
    const longNamespace = `${"this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_".repeat(4)}x/docker`;
    expect(errorOf(() => parseReference(longNamespace)).kind).toBe("invalid");
  });

  it("validates the digest like go-digest", () => {
    expect(errorOf(() => parseReference(`repo@sha256:${"f".repeat(34)}`)).message).toBe(
      `invalid reference format: invalid checksum digest length (sha256:${"f".repeat(34)})`,
    );
    expect(errorOf(() => parseReference(`validname@invaliddigest:${F64}`)).message).toBe(
      `invalid reference format: unsupported digest algorithm (invaliddigest:${F64})`,
    );
    expect(errorOf(() => parseReference(`repo@sha256:${"F".repeat(64)}`)).message).toBe(
      `invalid reference format: invalid checksum digest format (sha256:${"F".repeat(64)})`,
    );
    expect(errorOf(() => parseReference(`repo@sha512:${F64}`)).message).toBe(
      `invalid reference format: invalid checksum digest length (sha512:${F64})`,
    );
    expect(errorOf(() => parseReference(`repo@constructor:${F64}`)).message).toBe(
      `invalid reference format: unsupported digest algorithm (constructor:${F64})`,
    );
  });
});

describe("normalisation and formatting", () => {
  // [input, full name, familiar name] (distribution/reference TestParseRepositoryInfo)
  const names: Array<[string, string, string]> = [
    ["fooo/bar", "docker.io/fooo/bar", "fooo/bar"],
    ["index.docker.io/fooo/bar", "docker.io/fooo/bar", "fooo/bar"],
    ["library/ubuntu", "docker.io/library/ubuntu", "ubuntu"],
    ["ubuntu", "docker.io/library/ubuntu", "ubuntu"],
    ["docker.io/library/ubuntu", "docker.io/library/ubuntu", "ubuntu"],
    ["docker.io/ubuntu", "docker.io/library/ubuntu", "ubuntu"],
    ["index.docker.io/library/ubuntu-12.04-base", "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base"],
    ["nonlibrary/ubuntu", "docker.io/nonlibrary/ubuntu", "nonlibrary/ubuntu"],
    ["other/library", "docker.io/other/library", "other/library"],
    ["127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase", "127.0.0.1:8000/private/moonbase"],
    ["127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"],
    ["example.com:8000/privatebasee", "example.com:8000/privatebasee", "example.com:8000/privatebasee"],
    ["library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar"],
    ["docker.io/library/foo/bar", "docker.io/library/foo/bar", "library/foo/bar"],
    ["store/foo/bar", "docker.io/store/foo/bar", "store/foo/bar"],
    ["Foo/bar", "Foo/bar", "Foo/bar"],
    ["FOO/bar", "FOO/bar", "FOO/bar"],
    ["localhost:5000/team/x", "localhost:5000/team/x", "localhost:5000/team/x"],
    ["foo_bar.com/repo", "foo_bar.com/repo", "foo_bar.com/repo"],
  ];
  it.each(names)("%s -> %s, familiar %s", (input, full, familiar) => {
    const ref = parseReference(input);
    expect(fullName(ref)).toBe(full);
    expect(familiarName(ref)).toBe(familiar);
    // The familiar and full forms parse back to the same reference.
    expect(parseReference(full)).toEqual(ref);
    expect(parseReference(familiar)).toEqual(ref);
  });

  it("formats tags and digests in both styles", () => {
    const digest = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";
    const both = parseReference(`busybox:latest@${digest}`);
    expect(formatReference(both, "full")).toBe(`docker.io/library/busybox:latest@${digest}`);
    expect(formatReference(both, "familiar")).toBe(`busybox:latest@${digest}`);
    expect(formatReference(parseReference("ubuntu"), "familiar")).toBe("ubuntu");
    expect(formatReference(parseReference("docker.io/library/ubuntu"), "familiar")).toBe("ubuntu");
    expect(formatReference(parseReference("localhost:5000/team/x:v1"), "full")).toBe("localhost:5000/team/x:v1");
    expect(formatReference(parseReference(`fixture/x@${digest}`), "familiar")).toBe(`fixture/x@${digest}`);
  });

  it("withDefaultTag adds :latest to a bare name only", () => {
    const digest = `sha256:${F64}`;
    const bare = parseReference("ubuntu");
    expect(formatReference(withDefaultTag(bare), "full")).toBe("docker.io/library/ubuntu:latest");
    expect(formatReference(withDefaultTag(bare), "familiar")).toBe("ubuntu:latest");
    expect(bare.tag).toBeUndefined(); // not mutated
    expect(withDefaultTag(parseReference("ubuntu:22.04"))).toEqual({ domain: "docker.io", path: "library/ubuntu", tag: "22.04" });
    expect(withDefaultTag(parseReference(`ubuntu@${digest}`))).toEqual({ domain: "docker.io", path: "library/ubuntu", digest });
  });
});

describe("parseRepository", () => {
  it("parses a name without tag or digest", () => {
    expect(parseRepository("busybox")).toEqual({ domain: "docker.io", path: "library/busybox" });
    expect(parseRepository("localhost:5000/team/x")).toEqual({ domain: "localhost:5000", path: "team/x" });
  });
  it("refuses a tag or a digest", () => {
    expect(errorOf(() => parseRepository("busybox:latest")).message).toBe(
      "invalid repository name (busybox:latest): a tag or digest is not allowed here",
    );
    expect(errorOf(() => parseRepository(`busybox@sha256:${F64}`)).kind).toBe("invalid");
    expect(errorOf(() => parseRepository("Busybox")).message).toBe(
      "invalid reference format: repository name (library/Busybox) must be lowercase",
    );
  });
});

describe("isFullImageId", () => {
  it.each([
    [HEX64, true],
    [`sha256:${HEX64}`, true],
    [HEX64.toUpperCase(), false],
    [HEX64.slice(1), false],
    [`sha512:${HEX64}`, false],
    [`sha256:${HEX64}0`, false],
    ["busybox", false],
  ])("%s -> %s", (input, expected) => {
    expect(isFullImageId(input)).toBe(expected);
  });
});
