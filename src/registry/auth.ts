/**
 * Registry authentication: learns the scheme from a 401's WWW-Authenticate challenge, then
 * answers with Basic credentials or a bearer token fetched from the challenge's realm
 * (distribution's token protocol) and cached per scope set.
 */
import { LadingError } from "../core/errors.js";
import { parseChallenges, type Challenge } from "./challenge.js";
import { describeConnectionError, isConnectionError, Retryable, withRetries } from "./retry.js";
import { refusalText } from "./error-body.js";
import { BodyTooLargeError, discard, readBody, type Transport } from "./transport.js";

export { parseChallenges, type Challenge } from "./challenge.js";

export interface Credentials {
  username: string;
  password: string;
}

export type CredentialsProvider = (registryHost: string) => Promise<Credentials | undefined>;

export interface AuthSettings {
  /** Registry host as the user named it, for messages and the credentials lookup. */
  registryHost: string;
  credentials: CredentialsProvider;
  transport: Transport;
  attempts: number;
  baseDelayMs: number;
}

interface CachedToken {
  value: string;
  expiresAt: number;
}

const TOKEN_BODY_LIMIT = 1024 * 1024;
const DEFAULT_TOKEN_LIFETIME_S = 60;
const EXPIRY_MARGIN_MS = 5_000;

/** Scope for a repository: `repository:<name>:pull` or `...:pull,push`. */
export function repositoryScope(repository: string, push = false): string {
  return `repository:${repository}:${push ? "pull,push" : "pull"}`;
}

export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, "utf8").toString("base64")}`;
}

/** The repository a scope list is about, for messages: the first `repository:<name>:...` entry. */
function scopeRepository(scopes: readonly string[]): string | undefined {
  for (const scope of scopes) {
    const match = /^repository(?:\([^)]*\))?:(.+):[^:]*$/.exec(scope);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

/** The error for a refused authorization, with what the registry said (`refusal`) when it said anything. */
export function authenticationFailed(registryHost: string, status: number, scopes: readonly string[], refusal?: string): LadingError {
  const repository = scopeRepository(scopes);
  return new LadingError("invalid", `registry ${registryHost}: authentication failed (${status})${repository === undefined ? "" : ` for ${repository}`}${refusal === undefined ? "" : `: ${refusal}`}`);
}

export class RegistryAuth {
  private challenge: Challenge | undefined;
  private credentialsLookup: Promise<Credentials | undefined> | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  private readonly pendingTokens = new Map<string, Promise<string>>();

  constructor(private readonly settings: AuthSettings) {}

  /** The Authorization header for a request needing `scopes`, or undefined (anonymous / no challenge yet). */
  async authorization(scopes: readonly string[]): Promise<string | undefined> {
    const challenge = this.challenge;
    if (challenge === undefined) return undefined;
    if (challenge.scheme === "basic") {
      const credentials = await this.credentials();
      return credentials === undefined ? undefined : basicAuthorization(credentials);
    }
    return `Bearer ${await this.token(challenge, scopes)}`;
  }

  /**
   * Learns from a 401: adopts its Bearer (preferred) or Basic challenge and forgets the token used
   * for these scopes. Returns the scopes to retry with (those asked plus those the challenge
   * names), or undefined when a retry cannot help.
   */
  async learn(wwwAuthenticate: readonly string[], scopes: readonly string[]): Promise<string[] | undefined> {
    const challenges = parseChallenges(wwwAuthenticate);
    const chosen = challenges.find((c) => c.scheme === "bearer" && c.params.realm !== undefined) ?? challenges.find((c) => c.scheme === "basic");
    if (chosen === undefined) return undefined;
    this.challenge = chosen;
    const merged = mergeScopes(scopes, (chosen.params.scope ?? "").split(" "));
    this.tokens.delete(scopeKey(scopes));
    this.tokens.delete(scopeKey(merged));
    if (chosen.scheme === "basic" && (await this.credentials()) === undefined) return undefined;
    return merged;
  }

  private credentials(): Promise<Credentials | undefined> {
    this.credentialsLookup ??= this.settings.credentials(this.settings.registryHost);
    return this.credentialsLookup;
  }

  private async token(challenge: Challenge, scopes: readonly string[]): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached !== undefined && cached.expiresAt > Date.now()) return cached.value;
    // Parallel transfers of one repository share one token request.
    let pending = this.pendingTokens.get(key);
    if (pending === undefined) {
      pending = this.fetchToken(challenge, scopes).then(
        (token) => {
          this.pendingTokens.delete(key);
          this.tokens.set(key, token);
          return token.value;
        },
        (error: unknown) => {
          this.pendingTokens.delete(key);
          throw error;
        },
      );
      this.pendingTokens.set(key, pending);
    }
    return pending;
  }

  private async fetchToken(challenge: Challenge, scopes: readonly string[]): Promise<CachedToken> {
    const { registryHost, transport } = this.settings;
    const realm = challenge.params.realm ?? "";
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new LadingError("invalid", `registry ${registryHost}: invalid token realm ${JSON.stringify(realm)} in WWW-Authenticate`);
    }
    if (challenge.params.service !== undefined) url.searchParams.set("service", challenge.params.service);
    for (const scope of scopes) if (scope !== "") url.searchParams.append("scope", scope);
    const credentials = await this.credentials();
    const headers: Record<string, string> = { Accept: "application/json" };
    if (credentials !== undefined) headers.Authorization = basicAuthorization(credentials);
    const where = `token server ${url.host}`;
    const body = await withRetries(
      this.settings.attempts,
      this.settings.baseDelayMs,
      async () => {
        let res;
        try {
          res = await transport.send({ method: "GET", url, headers });
        } catch (error) {
          if (isConnectionError(error)) throw new Retryable(describeConnectionError(error));
          throw new LadingError("io", `registry ${registryHost}: ${where}: ${error instanceof Error ? error.message : String(error)}`);
        }
        const status = res.statusCode ?? 0;
        if (status >= 500) {
          await discard(res);
          throw new Retryable(`${status} ${res.statusMessage ?? ""}`.trim());
        }
        if (status === 401 || status === 403) {
          throw authenticationFailed(registryHost, status, scopes, await refusalText(res));
        }
        if (status !== 200) {
          await discard(res);
          throw new LadingError("io", `registry ${registryHost}: ${where} answered ${status} ${res.statusMessage ?? ""}`.trim());
        }
        try {
          return await readBody(res, TOKEN_BODY_LIMIT);
        } catch (error) {
          if (error instanceof BodyTooLargeError) throw new LadingError("invalid", `registry ${registryHost}: ${where}: answer ${error.message}`);
          // A body cut short is asked for again, as a connection lost before the answer is.
          throw new Retryable(`reading the answer: ${error instanceof Error ? error.message : String(error)}`);
        }
      },
      (last, n) => new LadingError("io", `registry ${registryHost}: ${where}: ${last.reason} (after ${n} attempts)`),
    );
    return parseTokenResponse(body, `registry ${registryHost}: ${where}`);
  }
}

function parseTokenResponse(body: Buffer, context: string): CachedToken {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString("utf8"));
  } catch {
    throw new LadingError("invalid", `${context}: response is not JSON`);
  }
  const fields = (typeof parsed === "object" && parsed !== null ? parsed : {}) as Record<string, unknown>;
  const value = typeof fields.token === "string" && fields.token !== "" ? fields.token : fields.access_token;
  if (typeof value !== "string" || value === "") throw new LadingError("invalid", `${context}: response has no token`);
  const lifetime = typeof fields.expires_in === "number" && fields.expires_in > 0 ? fields.expires_in : DEFAULT_TOKEN_LIFETIME_S;
  return { value, expiresAt: Date.now() + lifetime * 1000 - EXPIRY_MARGIN_MS };
}

/**
 * The scopes of both lists, one per resource with the union of its actions in first-seen order:
 * a challenge's `repository:x:push,pull` and our `repository:x:pull,push` are one scope, not two.
 */
function mergeScopes(a: readonly string[], b: readonly string[]): string[] {
  const actionsByResource = new Map<string, Set<string>>();
  const verbatim: string[] = [];
  for (const scope of [...a, ...b]) {
    if (scope === "") continue;
    const split = scope.lastIndexOf(":");
    if (split <= scope.indexOf(":")) {
      if (!verbatim.includes(scope)) verbatim.push(scope);
      continue;
    }
    const resource = scope.slice(0, split);
    const actions = actionsByResource.get(resource) ?? new Set<string>();
    for (const action of scope.slice(split + 1).split(",")) if (action !== "") actions.add(action);
    actionsByResource.set(resource, actions);
  }
  return [...[...actionsByResource].map(([resource, actions]) => `${resource}:${[...actions].join(",")}`), ...verbatim];
}

function scopeKey(scopes: readonly string[]): string {
  return [...new Set(scopes)].sort().join(" ");
}
