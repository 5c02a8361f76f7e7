/**
 * The request router of the Engine API subset: strips and checks the `/vMAJOR.MINOR` prefix,
 * sends each image request to its route, and answers 501 for the rest of the Engine API.
 *
 * Image names may hold slashes and colons (`/images/localhost:5000/team/x:v1/json`): a request
 * is matched by its last segment, and the name is everything between `/images/` and it.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Store } from "../store/store.js";
import type { WatchedReferences } from "../store/watched-references.js";
import type { ConfigCache } from "./image-views.js";
import { historyRoute, inspectRoute, listImagesRoute, loadRoute, removeRoute, saveRoute, tagRoute, type ImageApi } from "./image-routes.js";
import { API_VERSION, commonHeaders, HttpError, MIN_API_VERSION, sendError } from "./responses.js";
import type { StoreListing } from "./store-listing.js";
import { infoRoute, pingRoute, versionRoute } from "./system-routes.js";

export interface EngineApi {
  store: Store;
  references: WatchedReferences;
  configs: ConfigCache;
  listing: StoreListing;
  /** One line per server-side failure (5xx other than 501). */
  log(line: string): void;
}

const VERSION_PREFIX = /^\/v(\d+)\.(\d+)(?=\/)/;
const IMAGE_ACTIONS = new Set(["json", "history", "tag", "get"]);

export function createRequestHandler(api: EngineApi): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    commonHeaders(res);
    route(api, req, res).catch((error: unknown) => {
      // A response already under way can only be cut: the client gets no reason, so the log must.
      const cut = res.headersSent;
      const { status, message } = sendError(res, error);
      // repositories.json's problem was logged once, when the server found it.
      const loggedAlready = message === api.references.problem?.message;
      if (cut || (status >= 500 && status !== 501 && !loggedAlready)) api.log(`lading serve: ${req.method ?? "?"} ${req.url ?? "?"}: ${message}`);
    });
  };
}

async function route(api: EngineApi, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  const url = new URL(req.url ?? "/", "http://lading");
  const path = stripVersion(url.pathname);
  const images: ImageApi = { store: api.store, configs: api.configs, listing: api.listing, log: api.log };

  if (path === "/_ping" && (method === "GET" || method === "HEAD")) return pingRoute(req, res);
  if (path === "/version" && method === "GET") return versionRoute(res);
  if (path === "/info" && method === "GET") return infoRoute(api.store, api.references, res);
  if (path === "/images/json" && method === "GET") return listImagesRoute(images, url, res);
  if (path === "/images/load" && method === "POST") return loadRoute(images, req, res);
  if (path === "/images/get" && method === "GET") return saveRoute(images, url.searchParams.getAll("names"), res);

  if (path.startsWith("/images/")) {
    const rest = path.slice("/images/".length);
    const slash = rest.lastIndexOf("/");
    const action = slash === -1 ? "" : rest.slice(slash + 1);
    if (IMAGE_ACTIONS.has(action) && slash > 0) {
      const name = decodeName(rest.slice(0, slash));
      if (action === "json" && method === "GET") return inspectRoute(images, name, res);
      if (action === "history" && method === "GET") return historyRoute(images, name, res);
      if (action === "tag" && method === "POST") return tagRoute(images, name, url, res);
      if (action === "get" && method === "GET") return saveRoute(images, [name], res);
    }
    if (method === "DELETE" && rest !== "") return removeRoute(images, decodeName(rest), url, res);
  }
  throw new HttpError(501, `lading serve implements only the image API; ${method} ${path} is not supported`);
}

/** Removes `/vX.Y`, refusing versions outside what this server speaks, with dockerd's messages. */
function stripVersion(pathname: string): string {
  const match = VERSION_PREFIX.exec(pathname);
  if (!match) return pathname;
  const version = `${match[1]}.${match[2]}`;
  if (compareVersions(version, API_VERSION) > 0) {
    throw new HttpError(400, `client version ${version} is too new. Maximum supported API version is ${API_VERSION}`);
  }
  if (compareVersions(version, MIN_API_VERSION) < 0) {
    throw new HttpError(400, `client version ${version} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`);
  }
  return pathname.slice(match[0].length);
}

function compareVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split(".").map(Number);
  const [bMajor = 0, bMinor = 0] = b.split(".").map(Number);
  return aMajor - bMajor || aMinor - bMinor;
}

function decodeName(raw: string): string {
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new HttpError(400, `invalid image name in the path: ${raw}`);
  }
}
