import { createServer } from "node:net";

/** Whether a listener can bind `port` on 127.0.0.1 right now. */
const canListen = (port: number) =>
  new Promise<boolean>((resolve) => {
    const server = createServer()
      .once("error", () => resolve(false))
      .listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });

/**
 * A port nothing listens on, for a process started next to bind (the bench's services, tests' own Redis or
 * Kafka). Picked below the ephemeral ranges (Linux 32768-60999, macOS 49152-65535): a port from `listen(0)` is
 * an ephemeral one, which an outgoing connection of a concurrent process (another test's client) can take
 * before the process binds it.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
  throw new Error("no free port found in 20000-31999 after 200 tries");
}
