import type { Command } from "commander";
import { startServer } from "../server/server.js";
import { resolveStoreRoot } from "../store/root.js";
import { printLine, type Terminal } from "./output.js";

interface ServeFlags {
  socket?: string;
  listen?: string;
}

/**
 * `lading serve`: runs until SIGTERM or SIGINT. SIGHUP re-reads repositories.json. Log lines go
 * to standard error.
 */
export function registerServe(program: Command, terminal: Terminal): void {
  program
    .command("serve")
    .description("serve the store through the Docker Engine API's image endpoints, for the docker CLI (DOCKER_HOST=unix://SOCKET)")
    .option("--socket <path>", "unix socket to listen on, created with mode 0600 (default: <root>/lading.sock)")
    .option("--listen <host:port>", "also listen on this loopback TCP address (127.0.0.1:PORT, [::1]:PORT or localhost:PORT)")
    .action(async (flags: ServeFlags, command: Command) => {
      const { root } = command.optsWithGlobals<{ root?: string }>();
      const log = (line: string): void => printLine(terminal.stderr, line);
      const server = await startServer({
        root: resolveStoreRoot(root === undefined ? {} : { root }),
        ...(flags.socket === undefined ? {} : { socketPath: flags.socket }),
        ...(flags.listen === undefined ? {} : { listen: flags.listen }),
        log,
      });
      const where = [`unix://${server.socketPath}`, ...(server.tcpAddress ? [`tcp://${server.tcpAddress}`] : [])].join(" and ");
      log(`lading serve: listening on ${where} (Docker Engine API 1.41, images only)`);

      const onHangUp = (): void => {
        server.reload().then(
          (state) => {
            const problem = server.references.problem;
            log(`lading serve: SIGHUP: reloaded repositories.json: ${state.entries.length} references${problem ? ` (last good state kept: ${problem.message})` : ""}`);
          },
          (error: unknown) => log(`lading serve: SIGHUP: reload failed: ${(error as Error).message}`),
        );
      };
      process.on("SIGHUP", onHangUp);
      const signal = await new Promise<NodeJS.Signals>((resolve) => {
        // Removed only once the signal's other listeners have run: signal-exit (proper-lockfile's
        // exit hook, loaded with the first lock) kills the process when it finds itself the only
        // listener, as it would with a once-listener already gone. A second signal then kills.
        const stop = (received: NodeJS.Signals): void => {
          setImmediate(() => {
            process.off("SIGTERM", stop);
            process.off("SIGINT", stop);
          });
          resolve(received);
        };
        process.on("SIGTERM", stop);
        process.on("SIGINT", stop);
      });
      log(`lading serve: ${signal}: closing`);
      process.off("SIGHUP", onHangUp);
      await server.close();
      log("lading serve: closed");
    });
}
