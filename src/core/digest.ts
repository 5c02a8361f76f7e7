import { createHash, type Hash } from "node:crypto";
import { invalid } from "./errors.js";

export type DigestAlgorithm = "sha256" | "sha512";

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  encoded: string;
}

const ENCODED_LENGTH: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };
const GENERAL_GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const LOWER_HEX = /^[0-9a-f]+$/;

/**
 * Parses and validates a digest. Only sha256 and sha512 with lowercase hex of the right length are
 * accepted, so a parsed digest is always safe to use as a path component.
 */
export function parseDigest(value: string, field = "digest"): ParsedDigest {
  const problem = digestProblem(value);
  if (problem !== undefined) throw invalid(`${field}: ${problem}`, field);
  const colon = value.indexOf(":");
  return { algorithm: value.slice(0, colon) as DigestAlgorithm, encoded: value.slice(colon + 1) };
}

/** Why a value is no digest parseDigest accepts (`invalid digest "sha256:x"`), or undefined when it is one. */
export function digestProblem(value: string): string | undefined {
  if (typeof value !== "string" || !GENERAL_GRAMMAR.test(value)) return `invalid digest ${JSON.stringify(value)}`;
  const colon = value.indexOf(":");
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm !== "sha256" && algorithm !== "sha512") return `unsupported digest algorithm ${JSON.stringify(algorithm)} in ${JSON.stringify(value)}`;
  if (encoded.length !== ENCODED_LENGTH[algorithm] || !LOWER_HEX.test(encoded)) {
    return `invalid ${algorithm} digest ${JSON.stringify(value)} (want ${ENCODED_LENGTH[algorithm]} lowercase hex digits)`;
  }
  return undefined;
}

export function isValidDigest(value: string): boolean {
  try {
    parseDigest(value);
    return true;
  } catch {
    return false;
  }
}

export function createDigester(algorithm: DigestAlgorithm = "sha256"): Hash {
  return createHash(algorithm);
}

export function formatDigest(algorithm: DigestAlgorithm, hash: Hash): string {
  return `${algorithm}:${hash.digest("hex")}`;
}

export function digestOf(data: Uint8Array | string, algorithm: DigestAlgorithm = "sha256"): string {
  return `${algorithm}:${createHash(algorithm).update(data).digest("hex")}`;
}

/** `sha256:<hex>` for a bare 64-hex string, the value itself when it already carries an algorithm. */
export function withAlgorithm(value: string): string {
  return value.includes(":") ? value : `sha256:${value}`;
}

export function encodedPart(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

/** Docker's chain ID: chain(L0) = diff0; chain(L0..n) = sha256(chain(L0..n-1) + " " + diffn). */
export function chainIds(diffIds: readonly string[]): string[] {
  const chain: string[] = [];
  for (const diffId of diffIds) {
    const previous = chain[chain.length - 1];
    chain.push(previous === undefined ? diffId : digestOf(`${previous} ${diffId}`));
  }
  return chain;
}
