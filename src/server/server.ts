/**
 * `lading serve`: the Engine API subset on a unix socket (mode 0600; by default `<root>/lading.sock`),
 * and on a loopback TCP port only when asked. Reads go through a WatchedReferences, so a change
 * made by any other process is served on the next request. Closing stops accepting, lets requests
 * in flight finish for a grace period, then aborts what is left and removes the socket file.
 */
import { lstat, chmod, stat, unlink } from "node:fs/promises";
import { createServer, type RequestListener, type Server } from "node:http";
import { connect } from "node:net";
import path from "node:path";
import { conflict, invalid, notFound, toLadingError, usage } from "../core/errors.js";
import type { ReferenceState } from "../store/reference-store.js";
import { Store } from "../store/store.js";
import { WatchedReferences } from "../store/watched-references.js";
import { createRequestHandler } from "./engine-api.js";
import { ConfigCache, listImagesBody } from "./image-views.js";
import { StoreListing } from "./store-listing.js";
import { referenceWarnings } from "./system-routes.js";
import { missingFileWords } from "../store/references-file-error.js";

export interface ServeOptions {
  /** The store root. */
  root: string;
  /** Unix socket path; default `<root>/lading.sock`. */
  socketPath?: string;
  /** Also listen on this loopback address ("127.0.0.1:2375", "[::1]:2375", "localhost:2375"). */
  listen?: string;
  /** One line per event worth a log line; default: nothing. */
  log?: (line: string) => void;
  /** How long requests in flight may run on after close() before they are aborted; default 5000 ms. */
  shutdownGraceMs?: number;
}

export interface RunningServer {
  store: Store;
  references: WatchedReferences;
  socketPath: string;
  /** "host:port" of the TCP listener, when there is one. */
  tcpAddress: string | undefined;
  /** Re-reads repositories.json (SIGHUP). */
  reload(): Promise<ReferenceState>;
  /** Settles once the image list has been built after start (see startServer). */
  warmedUp: Promise<void>;
  close(): Promise<void>;
}

const SOCKET_PATH_MAX = 107;

/**
 * An HTTP server as dockerd's: no limit on how long a request may take, and an idle connection
 * kept until its client closes it. Node's defaults answered 408 to any `docker load` whose upload
 * took over 300 s (requestTimeout: a slow disk, an ssh pipe, a large image, the air-gapped moves
 * lading is for), and closed a kept-alive connection after 5 s idle, so a client that sent its
 * next request on it a moment later (a slow or busy one) had it fail with EPIPE or ECONNRESET.
 * The limit on the headers stays.
 */
export function engineHttpServer(handler: RequestListener): Server {
  const server = createServer({ requestTimeout: 0, headersTimeout: 60_000 }, handler);
  server.keepAliveTimeout = 0;
  return server;
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const log = options.log ?? (() => undefined);
  const grace = options.shutdownGraceMs ?? 5000;
  const socketPath = path.resolve(options.socketPath ?? path.join(options.root, "lading.sock"));
  if (Buffer.byteLength(socketPath) > SOCKET_PATH_MAX) {
    throw usage(`--socket: ${socketPath} is longer than the ${SOCKET_PATH_MAX} bytes a unix socket path may have`);
  }
  const tcp = options.listen === undefined ? undefined : parseLoopbackAddress(options.listen);
  // The default's directory is the store root, which Store.open creates.
  if (options.socketPath !== undefined) await checkSocketDirectory(socketPath);

  const made: { references?: WatchedReferences } = {};
  const store = await Store.open(options.root, {
    references: (filePath, recordsGone, referencesLost) =>
      (made.references = new WatchedReferences(filePath, { recordsGone, reloadHint: "send lading serve SIGHUP", missingFile: { ...referencesLost, remedy: "send lading serve SIGHUP" } })),
  });
  const watched = made.references;
  if (!watched) throw new Error("Store.open did not create the watched reference store");
  if (await store.referencesLost()) {
    log(`lading serve: ${watched.filePath}: ${await missingFileWords(watched.filePath)}, but the store holds images: they show untagged, and writes refuse until it is put back or SIGHUP takes it as an empty store`);
  }
  let missing = false;
  let emptyLogged = false;
  // A missing file taken as an empty store (the store emptied, or SIGHUP) after one was served: said once.
  const logEmpty = (): void => {
    if (emptyLogged || !watched.servingNoFile) return;
    emptyLogged = true;
    log("lading serve: repositories.json is gone: serving an empty store");
  };
  watched.on("invalid", () => {
    missing = watched.missing;
    for (const warning of referenceWarnings(watched)) log(`lading serve: ${warning}`);
  });
  watched.on("change", () => {
    if (watched.servingNoFile) logEmpty();
    else emptyLogged = false;
  });
  watched.on("recovered", (state) => {
    if (watched.servingNoFile) logEmpty();
    else log(`lading serve: repositories.json is ${missing ? "back" : "valid again"}: serving it (${state.entries.length} references)`);
  });
  // An invalid file was logged by its 'invalid' event; requests that need references report it.
  await watched.state().catch(() => undefined);

  const configs = new ConfigCache();
  const listing = new StoreListing();
  const handler = createRequestHandler({ store, references: watched, configs, listing, log });
  const inFlight = new Set<Promise<void>>();
  const servers: Server[] = [];
  const makeServer = (): Server => {
    const server = engineHttpServer((req, res) => {
      const finished = new Promise<void>((resolve) => res.once("close", resolve));
      inFlight.add(finished);
      void finished.then(() => inFlight.delete(finished));
      handler(req, res);
    });
    servers.push(server);
    return server;
  };

  await removeStaleSocket(socketPath);
  const unixServer = makeServer();
  const previousUmask = process.umask(0o177);
  try {
    await listen(unixServer, { path: socketPath });
  } finally {
    process.umask(previousUmask);
  }
  await chmod(socketPath, 0o600);

  let tcpAddress: string | undefined;
  if (tcp) {
    const tcpServer = makeServer();
    try {
      await listen(tcpServer, { host: tcp.host, port: tcp.port });
    } catch (error) {
      await closeAll(servers, 0);
      await unlink(socketPath).catch(() => undefined);
      throw error;
    }
    const address = tcpServer.address();
    if (address !== null && typeof address === "object") tcpAddress = address.family === "IPv6" ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`;
  }

  // The first `docker images` would read every image record and config: that is done now, in the
  // background, so that it finds the caches filled (over a second for 1,000 images otherwise).
  // Without a valid repositories.json there is nothing to list yet (its error is logged already).
  const warmedUp = !watched.hasGoodState
    ? Promise.resolve()
    : listImagesBody(store, configs, listing, "").then(
        () => undefined,
        (error: unknown) => log(`lading serve: could not list the images at start: ${error instanceof Error ? error.message : String(error)}`),
      );

  let closing: Promise<void> | undefined;
  return {
    store,
    references: watched,
    socketPath,
    tcpAddress,
    reload: () => watched.reload(),
    warmedUp,
    close: () =>
      (closing ??= (async () => {
        await closeAll(servers, grace, inFlight);
        await warmedUp;
        watched.close();
        await unlink(socketPath).catch(() => undefined);
      })()),
  };
}

/** Stops accepting; waits up to `grace` ms for requests in flight, then aborts every connection. */
async function closeAll(servers: Server[], grace: number, inFlight: Set<Promise<void>> = new Set()): Promise<void> {
  const closed = servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve())));
  for (const server of servers) server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, grace)));
  await Promise.race([Promise.all([...inFlight]), deadline]);
  clearTimeout(timer);
  for (const server of servers) server.closeAllConnections();
  await Promise.all(closed);
}

function listen(server: Server, address: { path: string } | { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(address, () => {
      server.off("error", reject);
      resolve();
    });
  });
}

/** listen() on a socket in a missing directory fails with EACCES, which names neither the path nor the cause. */
async function checkSocketDirectory(socketPath: string): Promise<void> {
  const directory = path.dirname(socketPath);
  try {
    if ((await stat(directory)).isDirectory()) return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw notFound(`--socket: directory ${directory} does not exist`, directory);
    if (code !== "ENOTDIR") throw toLadingError(error);
  }
  throw invalid(`--socket: ${directory} is not a directory`, directory);
}

/** A socket file left by a server that died is removed; one that still answers is not taken over. */
async function removeStaleSocket(socketPath: string): Promise<void> {
  const info = await lstat(socketPath).catch(() => undefined);
  if (!info) return;
  if (!info.isSocket()) throw conflict(`${socketPath} exists and is not a socket; refusing to replace it`, socketPath);
  const alive = await new Promise<boolean>((resolve) => {
    const probe = connect(socketPath);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    probe.once("error", () => resolve(false));
  });
  if (alive) throw conflict(`another server is already listening on ${socketPath}`, socketPath);
  await unlink(socketPath);
}

/** `--listen`: loopback only, never a TCP port reachable from elsewhere. */
export function parseLoopbackAddress(text: string): { host: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const host = match?.[1] ?? match?.[2];
  const port = Number(match?.[3]);
  if (!match || host === undefined || !Number.isInteger(port) || port > 65535) {
    throw usage(`--listen: expected HOST:PORT with a loopback host (127.0.0.1:2375), got ${JSON.stringify(text)}`);
  }
  const loopback = host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  if (!loopback) throw usage(`--listen: ${host} is not a loopback address; lading serve listens on 127.0.0.1, ::1 or localhost only`);
  return { host, port };
}
