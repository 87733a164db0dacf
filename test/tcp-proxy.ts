import net from "node:net";

/**
 * A TCP proxy on 127.0.0.1 in front of a real service (PostgreSQL in the consumer tests): `stop()` refuses new
 * connections and cuts the open ones, as a server that went away does; `start()` listens on the same port again.
 * Point a client at `url(...)` and the outage is real to it, with no stand-in for any of our code.
 */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;
  let port = 0;

  const start = () =>
    new Promise<void>((resolve, reject) => {
      const s = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host);
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.on("error", () => undefined);
          socket.on("close", () => sockets.delete(socket));
        }
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.pipe(upstream).pipe(client);
      });
      s.once("error", reject);
      s.listen(port, "127.0.0.1", () => {
        port = (s.address() as net.AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!server) return resolve();
      server.close(() => resolve());
      server = null;
    });

  await start();
  return {
    get port() {
      return port;
    },
    /** `serviceUrl` with its host and port replaced by the proxy's. */
    url(serviceUrl: string): string {
      const url = new URL(serviceUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    },
    start,
    stop,
    close: stop,
  };
}

/** The host and port a service URL points at (postgresql://, redis://). */
export function targetOf(serviceUrl: string): { host: string; port: number } {
  const url = new URL(serviceUrl);
  return { host: url.hostname, port: Number(url.port || 5432) };
}
