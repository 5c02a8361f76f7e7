/** Retries with exponential back-off for the failures worth retrying: lost connections and 5xx. */

/**
 * Thrown by one attempt when another attempt may succeed; `reason` is the one-line detail.
 * `final`, when given, is the error reported if no attempt is left (instead of giveUp's).
 */
export class Retryable extends Error {
  constructor(
    readonly reason: string,
    readonly final?: Error,
  ) {
    super(reason);
  }
}

const RETRYABLE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
]);

/** A network error another attempt may get past (refused, reset, timed out). */
export function isConnectionError(error: unknown): error is Error {
  if (!(error instanceof Error)) return false;
  const code = (error as NodeJS.ErrnoException).code;
  return (code !== undefined && RETRYABLE_CODES.has(code)) || error.message === "socket hang up";
}

export function describeConnectionError(error: Error): string {
  const code = (error as NodeJS.ErrnoException).code;
  // OpenSSL's text is "<op> EPROTO <id>:error:<n>:SSL routines:<function>:<reason>:<file>:<line>:".
  const sslReason = /SSL routines:[^:]*:([^:]+)/.exec(error.message)?.[1];
  if (sslReason !== undefined) {
    const hint = sslReason === "wrong version number" ? " (the registry may speak plain HTTP)" : "";
    return `TLS handshake failed: ${sslReason}${hint}`;
  }
  return code !== undefined && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `attempt` up to `attempts` times, waiting baseDelayMs, 2×, 4×... between tries while it
 * throws Retryable; `giveUp` turns the last Retryable into the error reported, unless it carries its own.
 */
export async function withRetries<T>(
  attempts: number,
  baseDelayMs: number,
  attempt: () => Promise<T>,
  giveUp: (last: Retryable, attempts: number) => Error,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof Retryable)) throw error;
      if (n >= attempts) throw error.final ?? giveUp(error, n);
      await sleep(baseDelayMs * 2 ** (n - 1));
    }
  }
}
