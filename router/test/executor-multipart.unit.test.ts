import { EventEmitter } from "node:events";
import type http from "node:http";
import { acceptsMultipartDefer, DEFER_CONTENT_TYPE, startMultipart } from "../src/executor/multipart.ts";

// @defer's multipart response, byte for byte as Apollo Router writes it (Apollo Client 4's multipart parser
// splits on "\r\n--graphql", so each write ends with the next delimiter and the part is read at once).

/** The part of `http.ServerResponse` the writer uses, recording what is written. */
function fakeResponse() {
  const res = Object.assign(new EventEmitter(), {
    statusCode: 0,
    destroyed: false,
    headers: {} as Record<string, string>,
    chunks: [] as string[],
    ended: false,
    setHeader(name: string, value: string) {
      res.headers[name] = value;
    },
    write(chunk: string) {
      res.chunks.push(chunk);
      return true;
    },
    end(chunk: string) {
      res.chunks.push(chunk);
      res.ended = true;
    },
  });
  return res;
}

test.each([
  ["multipart/mixed;deferSpec=20220824,application/graphql-response+json,application/json;q=0.9", true], // Apollo Client 4
  ["multipart/mixed; deferSpec=20220824, application/json", true],
  ['multipart/mixed;boundary="graphql";deferSpec="20220824"', true],
  ["application/json, Multipart/Mixed; DEFERSPEC=20220824", true],
  [undefined, false],
  ["application/json", false],
  ["multipart/mixed", false],
  ["multipart/mixed;subscriptionSpec=1.0", false],
  ["multipart/mixed;deferSpec=20230101", false],
  ["application/json;deferSpec=20220824", false],
])("Accept: %s accepts @defer's multipart response: %s", (accept, expected) => {
  expect(acceptsMultipartDefer(accept)).toBe(expected);
});

test("parts go out as written, each ending with the next delimiter, the last with the closing one", () => {
  const res = fakeResponse();
  const writer = startMultipart(res as unknown as http.ServerResponse, { "x-request-id": "r1" });
  expect(res.statusCode).toBe(200);
  expect(res.headers).toEqual({ "x-request-id": "r1", "content-type": DEFER_CONTENT_TYPE, "cache-control": "no-store" });
  expect(DEFER_CONTENT_TYPE).toBe('multipart/mixed;boundary="graphql";deferSpec=20220824');

  writer.write('{"data":{"a":1},"hasNext":true}', true);
  expect(res.chunks).toEqual(['\r\n--graphql\r\ncontent-type: application/json\r\n\r\n{"data":{"a":1},"hasNext":true}\r\n--graphql']);
  writer.write('{"hasNext":true,"incremental":[{"data":{"b":2},"path":[]}]}', true);
  writer.write('{"hasNext":false,"incremental":[{"data":{"c":3},"path":[]}]}', false);
  expect(res.ended).toBe(true);
  expect(writer.closed).toBe(true);
  expect(res.chunks.join("")).toBe(
    "\r\n--graphql\r\ncontent-type: application/json\r\n\r\n" +
      '{"data":{"a":1},"hasNext":true}' +
      "\r\n--graphql\r\ncontent-type: application/json\r\n\r\n" +
      '{"hasNext":true,"incremental":[{"data":{"b":2},"path":[]}]}' +
      "\r\n--graphql\r\ncontent-type: application/json\r\n\r\n" +
      '{"hasNext":false,"incremental":[{"data":{"c":3},"path":[]}]}' +
      "\r\n--graphql--\r\n",
  );
});

test("a single payload with hasNext false opens and closes the response in one write", () => {
  const res = fakeResponse();
  startMultipart(res as unknown as http.ServerResponse).write('{"data":null,"hasNext":false}', false);
  expect(res.chunks).toEqual(['\r\n--graphql\r\ncontent-type: application/json\r\n\r\n{"data":null,"hasNext":false}\r\n--graphql--\r\n']);
});

test("once the client is gone nothing more is written", () => {
  const res = fakeResponse();
  const writer = startMultipart(res as unknown as http.ServerResponse);
  writer.write('{"data":{},"hasNext":true}', true);
  res.emit("close");
  expect(writer.closed).toBe(true);
  writer.write('{"hasNext":false}', false);
  expect(res.chunks).toHaveLength(1);
  expect(res.ended).toBe(false);
});
