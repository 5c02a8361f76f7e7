import { describe, expect, it } from "vitest";
import { parseChallenges, RegistryAuth } from "../../src/registry/auth.js";

describe("parseChallenges", () => {
  it("reads distribution's bearer challenge with a multi-scope quoted value", () => {
    expect(
      parseChallenges('Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push repository:c:pull"'),
    ).toEqual([
      {
        scheme: "bearer",
        params: { realm: "https://auth.example.com/token", service: "registry.example.com", scope: "repository:a/b:pull,push repository:c:pull" },
      },
    ]);
  });

  it("reads a basic challenge, case-insensitive scheme and names", () => {
    expect(parseChallenges('BASIC Realm="lading test"')).toEqual([{ scheme: "basic", params: { realm: "lading test" } }]);
  });

  it("splits several challenges in one value, with spaces around commas and '='", () => {
    expect(parseChallenges('Basic realm="a, b" , Bearer realm = "https://t/token", service=reg, error="insufficient_scope"')).toEqual([
      { scheme: "basic", params: { realm: "a, b" } },
      { scheme: "bearer", params: { realm: "https://t/token", service: "reg", error: "insufficient_scope" } },
    ]);
  });

  it("unescapes backslashes in quoted strings", () => {
    expect(parseChallenges('Bearer realm="say \\"hi\\"\\\\"')).toEqual([{ scheme: "bearer", params: { realm: 'say "hi"\\' } }]);
  });

  it("takes several header values, and a scheme without parameters", () => {
    expect(parseChallenges(["Negotiate", 'Bearer realm="r"'])).toEqual([
      { scheme: "negotiate", params: {} },
      { scheme: "bearer", params: { realm: "r" } },
    ]);
  });

  it("returns nothing for an empty or parameter-first value", () => {
    expect(parseChallenges("")).toEqual([]);
    expect(parseChallenges('realm="x"')).toEqual([]);
  });

  it("keeps an unterminated quoted value up to the end", () => {
    expect(parseChallenges('Bearer realm="https://t/token')).toEqual([{ scheme: "bearer", params: { realm: "https://t/token" } }]);
  });
});

describe("RegistryAuth.learn", () => {
  it("merges the challenge's scopes into those asked, one scope per resource with every action once", async () => {
    const auth = new RegistryAuth({
      registryHost: "registry.example.com",
      credentials: async () => undefined,
      transport: undefined as never, // learn() makes no request
      attempts: 1,
      baseDelayMs: 0,
    });
    const challenge = 'Bearer realm="https://auth.example.com/token",service="r",scope="repository:x:push,pull repository:y:pull repository:z:delete"';
    expect(await auth.learn([challenge], ["repository:x:pull,push", "repository:y:pull"])).toEqual([
      "repository:x:pull,push",
      "repository:y:pull",
      "repository:z:delete",
    ]);
    expect(await auth.learn(['Bearer realm="https://a/t",scope="registry:catalog:*"'], ["repository(plugin):p:pull"])).toEqual(["repository(plugin):p:pull", "registry:catalog:*"]);
  });
});
