/**
 * Docker image references: the grammar of distribution/reference and Docker's normalisation
 * (`busybox` means `docker.io/library/busybox`). Pure: no I/O.
 *
 *   reference := name [":" tag] ["@" digest]
 *   name      := [domain "/"] path-component ["/" path-component]*
 */
import { invalid, type LadingError } from "./errors.js";

export interface ImageReference {
  /** Registry host with optional port; "docker.io" for Docker Hub. */
  domain: string;
  /** Repository path on that registry, e.g. "library/busybox". */
  path: string;
  tag?: string;
  digest?: string;
}

export type ReferenceStyle = "full" | "familiar";

const DEFAULT_DOMAIN = "docker.io";
const LEGACY_DEFAULT_DOMAIN = "index.docker.io";
const OFFICIAL_PREFIX = "library/";
const DEFAULT_TAG = "latest";
const MAX_PATH_LENGTH = 255;

const ALPHANUMERIC = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|-+)";
const PATH_COMPONENT = `${ALPHANUMERIC}(?:${SEPARATOR}${ALPHANUMERIC})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = "[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?";
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6_ADDRESS = "\\[[a-fA-F0-9:]+\\]";
const DOMAIN_AND_PORT = `(?:${DOMAIN_NAME}|${IPV6_ADDRESS})(?::[0-9]+)?`;
const NAME = `(?:${DOMAIN_AND_PORT}/)?${REMOTE_NAME}`;
const TAG = "[\\w][\\w.-]{0,127}";
// Loose on purpose (uppercase allowed): the digest is validated afterwards, with a precise message.
const LOOSE_DIGEST = "[A-Za-z0-9]+(?:[+._-][A-Za-z0-9]+)*:[a-zA-Z0-9=_-]+";

const REFERENCE_PATTERN = new RegExp(`^(${NAME})(?::(${TAG}))?(?:@(${LOOSE_DIGEST}))?$`);
const NAME_PATTERN = new RegExp(`^(?:(${DOMAIN_AND_PORT})/)?(${REMOTE_NAME})$`);
const IDENTIFIER_PATTERN = /^[a-f0-9]{64}$/;
const HEX_LENGTH_BY_ALGORITHM = new Map([["sha256", 64], ["sha512", 128]]);

/**
 * Parses a reference as the docker CLI does (ParseNormalizedNamed): a name, an optional tag and
 * an optional digest, normalised to its full form. Throws a LadingError "invalid" otherwise.
 */
export function parseReference(input: string): ImageReference {
  if (IDENTIFIER_PATTERN.test(input)) {
    throw invalid(`invalid repository name (${input}), cannot specify 64-byte hexadecimal strings`, input);
  }
  const [domain, remainder] = splitDockerDomain(input);
  const colon = remainder.indexOf(":");
  const remote = colon === -1 ? remainder : remainder.slice(0, colon);
  if (remote.toLowerCase() !== remote) {
    throw invalid(`invalid reference format: repository name (${remote}) must be lowercase`, input);
  }

  const candidate = `${domain}/${remainder}`;
  const match = REFERENCE_PATTERN.exec(candidate);
  if (match === null) {
    if (REFERENCE_PATTERN.test(candidate.toLowerCase())) {
      throw invalid(`invalid reference format: repository name (${input}) must be lowercase`, input);
    }
    throw invalidFormat(input);
  }
  const [, name = "", tag, digest] = match;
  const nameMatch = NAME_PATTERN.exec(name);
  // A first component that looked like a host but is not one (e.g. "foo_bar.com") stays in the path.
  const parsed: ImageReference = { domain: nameMatch?.[1] ?? "", path: nameMatch?.[2] ?? name };
  if (parsed.path.length > MAX_PATH_LENGTH) {
    throw invalid(`invalid reference format: repository name must not be more than ${MAX_PATH_LENGTH} characters`, input);
  }
  if (tag !== undefined) parsed.tag = tag;
  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem !== undefined) throw invalid(`invalid reference format: ${problem} (${digest})`, input);
    parsed.digest = digest;
  }
  return parsed;
}

/** Parses a repository name: like parseReference, but a tag or digest is refused. */
export function parseRepository(input: string): { domain: string; path: string } {
  const parsed = parseReference(input);
  if (parsed.tag !== undefined || parsed.digest !== undefined) {
    throw invalid(`invalid repository name (${input}): a tag or digest is not allowed here`, input);
  }
  return { domain: parsed.domain, path: parsed.path };
}

/** The full repository name: "docker.io/library/busybox". */
export function fullName(ref: { domain: string; path: string }): string {
  return ref.domain === "" ? ref.path : `${ref.domain}/${ref.path}`;
}

/** The repository name as Docker shows it: "busybox", "fixture/x", "localhost:5000/team/x". */
export function familiarName(ref: { domain: string; path: string }): string {
  if (ref.domain !== DEFAULT_DOMAIN) return fullName(ref);
  if (ref.path.startsWith(OFFICIAL_PREFIX)) {
    const rest = ref.path.slice(OFFICIAL_PREFIX.length);
    if (!rest.includes("/")) return rest;
  }
  return ref.path;
}

/** The whole reference, with its :tag and/or @digest, in full or familiar form. */
export function formatReference(ref: ImageReference, style: ReferenceStyle): string {
  const name = style === "full" ? fullName(ref) : familiarName(ref);
  const tag = ref.tag === undefined ? "" : `:${ref.tag}`;
  const digest = ref.digest === undefined ? "" : `@${ref.digest}`;
  return `${name}${tag}${digest}`;
}

/** A bare name gets the tag "latest"; a reference with a tag or a digest is returned unchanged. */
export function withDefaultTag(ref: ImageReference): ImageReference {
  if (ref.tag !== undefined || ref.digest !== undefined) return { ...ref };
  return { ...ref, tag: DEFAULT_TAG };
}

/** True for a full image ID: 64 lowercase hex characters, with or without "sha256:". */
export function isFullImageId(s: string): boolean {
  return IDENTIFIER_PATTERN.test(s.startsWith("sha256:") ? s.slice("sha256:".length) : s);
}

/** Docker's splitDockerDomain: decides whether the first component names a registry. */
function splitDockerDomain(name: string): [domain: string, remainder: string] {
  const slash = name.indexOf("/");
  if (slash === -1) return [DEFAULT_DOMAIN, OFFICIAL_PREFIX + name];
  const first = name.slice(0, slash);
  let rest = name.slice(slash + 1);
  let domain: string;
  if (first === "localhost" || /[.:]/.test(first) || first.toLowerCase() !== first) {
    domain = first === LEGACY_DEFAULT_DOMAIN ? DEFAULT_DOMAIN : first;
  } else {
    domain = DEFAULT_DOMAIN;
    rest = name;
  }
  if (domain === DEFAULT_DOMAIN && !rest.includes("/")) rest = OFFICIAL_PREFIX + rest;
  return [domain, rest];
}

/** go-digest's checks, in its order: known algorithm, then length, then lowercase hex. */
function digestProblem(digest: string): string | undefined {
  const colon = digest.indexOf(":");
  const length = HEX_LENGTH_BY_ALGORITHM.get(digest.slice(0, colon));
  const encoded = digest.slice(colon + 1);
  if (length === undefined) return "unsupported digest algorithm";
  if (encoded.length !== length) return "invalid checksum digest length";
  if (!/^[a-f0-9]+$/.test(encoded)) return "invalid checksum digest format";
  return undefined;
}

function invalidFormat(input: string): LadingError {
  return invalid(`invalid reference format: ${JSON.stringify(input)}`, input);
}
