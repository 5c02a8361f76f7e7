/** `/_ping`, `/version` and `/info`: what a docker client asks before anything else. */
import type { IncomingMessage, ServerResponse } from "node:http";
import os from "node:os";
import { hostPlatform } from "../core/platform.js";
import type { Store } from "../store/store.js";
import type { WatchedReferences } from "../store/watched-references.js";
import { API_VERSION, LADING_VERSION, MIN_API_VERSION, sendJson } from "./responses.js";

export function pingRoute(req: IncomingMessage, res: ServerResponse): void {
  res.writeHead(200, {
    "API-Version": API_VERSION,
    "Docker-Experimental": "false",
    OSType: "linux",
    "Cache-Control": "no-cache, no-store, must-revalidate",
    Pragma: "no-cache",
    "Content-Type": "text/plain; charset=utf-8",
    "Content-Length": 2,
  });
  res.end(req.method === "HEAD" ? undefined : "OK");
}

export function versionDocument(): Record<string, unknown> {
  const details = {
    ApiVersion: API_VERSION,
    Arch: hostPlatform().architecture,
    BuildTime: "",
    Experimental: "false",
    GitCommit: "",
    GoVersion: "",
    KernelVersion: os.release(),
    MinAPIVersion: MIN_API_VERSION,
    Os: "linux",
  };
  return {
    Platform: { Name: "lading" },
    Components: [{ Name: "Engine", Version: LADING_VERSION, Details: details }],
    Version: LADING_VERSION,
    ApiVersion: API_VERSION,
    MinAPIVersion: MIN_API_VERSION,
    GitCommit: "",
    GoVersion: "",
    Os: "linux",
    Arch: details.Arch,
    KernelVersion: details.KernelVersion,
    BuildTime: "",
  };
}

export function versionRoute(res: ServerResponse): void {
  sendJson(res, 200, versionDocument());
}

/**
 * Always present: it says what this server is, and a non-empty list also keeps the docker CLI
 * from inventing warnings about cgroup features that an image store does not have.
 */
export const IMAGE_ONLY_WARNING = "lading serve is an image store: containers, networks, volumes and builds are not supported";

/** The warning `/info` carries while repositories.json on disk is invalid. */
export function referenceWarnings(references: WatchedReferences): string[] {
  const problem = references.problem;
  if (!problem) return [];
  const prefix = `${references.filePath}: `;
  const message = problem.message.startsWith(prefix) ? problem.message.slice(prefix.length) : problem.message;
  const consequence = references.hasGoodState ? "serving the last good state" : "no valid state read yet: image requests fail until it is fixed";
  return [`repositories.json: ${message}; ${consequence}`];
}

/** Enough of Docker's /info for `docker info` to print, plus the store's warnings. */
export async function infoRoute(store: Store, references: WatchedReferences, res: ServerResponse): Promise<void> {
  // An invalid file is reported in Warnings below; /info itself still answers.
  await references.state().catch(() => undefined);
  const images = (await store.records.list()).length;
  const none = { ID: "", Expected: "" };
  sendJson(res, 200, {
    ID: "",
    Containers: 0,
    ContainersRunning: 0,
    ContainersPaused: 0,
    ContainersStopped: 0,
    Images: images,
    Driver: "lading",
    DriverStatus: [["Root Dir", store.paths.root]],
    Plugins: { Volume: [], Network: [], Authorization: null, Log: [] },
    MemoryLimit: false,
    SwapLimit: false,
    KernelMemory: false,
    KernelMemoryTCP: false,
    CpuCfsPeriod: false,
    CpuCfsQuota: false,
    CPUShares: false,
    CPUSet: false,
    PidsLimit: false,
    IPv4Forwarding: false,
    BridgeNfIptables: false,
    BridgeNfIp6tables: false,
    Debug: false,
    NFd: 0,
    OomKillDisable: false,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: "",
    CgroupDriver: "none",
    CgroupVersion: "",
    NEventsListener: 0,
    KernelVersion: os.release(),
    OperatingSystem: `lading ${LADING_VERSION} image store`,
    OSVersion: "",
    OSType: "linux",
    Architecture: os.machine(),
    IndexServerAddress: "https://index.docker.io/v1/",
    RegistryConfig: {
      AllowNondistributableArtifactsCIDRs: [],
      AllowNondistributableArtifactsHostnames: [],
      InsecureRegistryCIDRs: [],
      IndexConfigs: {},
      Mirrors: [],
    },
    NCPU: os.cpus().length,
    MemTotal: os.totalmem(),
    GenericResources: null,
    DockerRootDir: store.paths.root,
    HttpProxy: "",
    HttpsProxy: "",
    NoProxy: "",
    Name: os.hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: LADING_VERSION,
    Runtimes: {},
    DefaultRuntime: "",
    Swarm: { NodeID: "", NodeAddr: "", LocalNodeState: "inactive", ControlAvailable: false, Error: "", RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: "",
    InitBinary: "",
    ContainerdCommit: none,
    RuncCommit: none,
    InitCommit: none,
    SecurityOptions: [],
    Warnings: [IMAGE_ONLY_WARNING, ...referenceWarnings(references)],
  });
}
