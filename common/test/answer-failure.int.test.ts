import http from "node:http";
import net from "node:net";
import { Writable } from "node:stream";
import pino from "pino";
import { answerFailure, readBody } from "../http/graphql.ts";

// A client that closes its connection in the middle of its request body (a load generator stopping, a browser tab
// closed) is not a server error: nothing is answered and nothing is logged as an error. A real server and socket.
test("a request body cut off by the client closing is not logged as an unexpected error", async () => {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)));
      done();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  let failed!: (error: unknown) => void;
  const failure = new Promise<unknown>((resolve) => (failed = resolve));
  const server = http.createServer((req, res) => {
    readBody(req).catch((error) => {
      answerFailure(res, error, logger, "req-1");
      failed(error);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  const socket = net.connect(port, "127.0.0.1");
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write('POST /graphql HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{"query":');
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  const error = await failure;
  server.close();
  expect((error as Error).message).toBe("aborted");
  expect(lines.filter((l) => l.level >= 40)).toEqual([]);
  expect(lines.map((l) => l.msg)).toEqual(["the client closed the connection before its request was read"]);
});
